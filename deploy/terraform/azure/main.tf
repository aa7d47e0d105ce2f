# Azure resources for OrleansDiffusion: storage (images, cluster membership, grain state, queue entries) and a GPU node
# pool for the silos on an existing AKS cluster. Written to be plausible against azurerm 4.x; NOT applied here.
# A root module: `terraform -chdir=deploy/terraform/azure apply -var kubernetes_cluster_id=...` (az login first;
# the subscription comes from ARM_SUBSCRIPTION_ID or the Azure CLI).

provider "azurerm" {
  features {}
}

resource "azurerm_resource_group" "this" {
  count    = var.create_resource_group ? 1 : 0
  name     = var.resource_group_name
  location = var.location
  tags     = var.tags
}

data "azurerm_resource_group" "existing" {
  count = var.create_resource_group ? 0 : 1
  name  = var.resource_group_name
}

locals {
  resource_group_name = var.create_resource_group ? azurerm_resource_group.this[0].name : data.azurerm_resource_group.existing[0].name
  location            = var.create_resource_group ? azurerm_resource_group.this[0].location : data.azurerm_resource_group.existing[0].location
}

resource "random_string" "suffix" {
  length  = 6
  lower   = true
  upper   = false
  numeric = true
  special = false
}

resource "azurerm_storage_account" "this" {
  name                     = "${var.name}${random_string.suffix.result}"
  resource_group_name      = local.resource_group_name
  location                 = local.location
  account_tier             = "Standard"
  account_replication_type = "ZRS"
  min_tls_version          = "TLS1_2"
  # The image store signs SAS read URLs with the account key: shared keys stay enabled.
  shared_access_key_enabled       = true
  allow_nested_items_to_be_public = false
  tags                            = var.tags
}

# Diffusion:ImageStore:Container (default "images"): content-addressed images/{sha256}.png and inputs/{sha256}.
resource "azurerm_storage_container" "images" {
  name                  = "images"
  storage_account_id    = azurerm_storage_account.this.id
  container_access_type = "private"
}

# Inference owners' (result cache) grain state (AddAzureBlobGrainStorage's default container).
resource "azurerm_storage_container" "grainstate" {
  name                  = "grainstate"
  storage_account_id    = azurerm_storage_account.this.id
  container_access_type = "private"
}

resource "azurerm_storage_table" "this" {
  for_each             = toset(var.tables)
  name                 = each.value
  storage_account_name = azurerm_storage_account.this.name
}

# One silo per GPU. The taint keeps other pods off; the label is the silo Deployment's nodeSelector.
resource "azurerm_kubernetes_cluster_node_pool" "gpu" {
  name                  = "gpu"
  kubernetes_cluster_id = var.kubernetes_cluster_id
  vm_size               = var.gpu_vm_size
  auto_scaling_enabled  = true
  min_count             = var.gpu_node_min_count
  max_count             = var.gpu_node_max_count
  node_labels           = { workload = "gpu" }
  node_taints           = ["nvidia.com/gpu=present:NoSchedule"]
  os_sku                = "Ubuntu"
  tags                  = var.tags
}
