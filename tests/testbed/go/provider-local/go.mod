// Wrapper module: builds terraform-provider-local. The commit is served at
// github.com/hashicorp/terraform-provider-local but its go.mod still declares the old
// github.com/terraform-providers/... path, which `go install` rejects; requiring
// the declared path and replacing it by the served one builds it unchanged.
module jetgen.dev/testbed/provider-local

go 1.25.8

require github.com/terraform-providers/terraform-provider-local v1.4.1-0.20260806152022-9068a4b7aa37

replace github.com/terraform-providers/terraform-provider-local => github.com/hashicorp/terraform-provider-local v1.4.1-0.20260806152022-9068a4b7aa37
