output "resource_group_name" {
  value = local.resource_group_name
}

output "storage_account_name" {
  value = azurerm_storage_account.this.name
}

output "storage_connection_string" {
  description = "For the diffusion-secrets Secret (storage-connection-string): Diffusion:Cluster:ConnectionString and Diffusion:ImageStore:ConnectionString."
  value       = azurerm_storage_account.this.primary_connection_string
  sensitive   = true
}

output "images_container" {
  value = azurerm_storage_container.images.name
}

output "gpu_node_pool_id" {
  value = azurerm_kubernetes_cluster_node_pool.gpu.id
}
