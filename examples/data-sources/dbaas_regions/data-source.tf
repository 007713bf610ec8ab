data "dbaas_regions" "all" {}

output "region_names" {
  value = [for region in data.dbaas_regions.all.regions : region.name]
}
