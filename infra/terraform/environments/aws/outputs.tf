output "platform" {
  description = "Names and ARNs the other layers use (modules/platform, output summary). No secret values."
  value       = module.platform.summary
}
