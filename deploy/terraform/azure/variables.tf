variable "name" {
  description = "Prefix of the resource names (lower-case letters and digits; the storage account name derives from it)."
  type        = string
  default     = "orleansdiff"

  validation {
    condition     = can(regex("^[a-z0-9]{3,16}$", var.name))
    error_message = "name must be 3-16 lower-case letters or digits."
  }
}

variable "location" {
  description = "Azure region (one with the GPU VM size available)."
  type        = string
  default     = "westeurope"
}

variable "create_resource_group" {
  description = "Create the resource group; false to use an existing one named resource_group_name."
  type        = bool
  default     = true
}

variable "resource_group_name" {
  description = "The resource group to create or use."
  type        = string
  default     = "rg-orleans-diffusion"
}

variable "kubernetes_cluster_id" {
  description = "Resource id of the existing AKS cluster that gets the GPU node pool."
  type        = string
}

variable "gpu_vm_size" {
  description = "GPU VM size of the silo node pool (one silo per GPU: Diffusion:Capacity=1, nvidia.com/gpu: 1)."
  type        = string
  default     = "Standard_NC4as_T4_v3"
}

variable "gpu_node_min_count" {
  description = "Fewest GPU nodes (0 lets the cluster autoscaler remove idle GPU nodes)."
  type        = number
  default     = 0
}

variable "gpu_node_max_count" {
  description = "Most GPU nodes."
  type        = number
  default     = 4
}

variable "tables" {
  description = "Azure tables: Orleans membership, job grain state and reminders (Orleans creates them too if missing)."
  type        = list(string)
  default     = ["OrleansSiloInstances", "OrleansGrainState", "OrleansReminders"]
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = { app = "orleans-diffusion" }
}
