// Each test class hosts the API with a co-hosted silo; two cores run them one class at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
