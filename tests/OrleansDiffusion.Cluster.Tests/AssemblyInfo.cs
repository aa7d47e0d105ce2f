// Each test starts whole clusters that share two cores with the test runner: running test classes one at a time
// keeps their timing (lease renewals, failure detection, "work while another silo waits") close to production's.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
