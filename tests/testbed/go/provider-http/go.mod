// Wrapper module: builds terraform-provider-http. The commit is served at
// github.com/hashicorp/terraform-provider-http but its go.mod still declares the old
// github.com/terraform-providers/... path, which `go install` rejects; requiring
// the declared path and replacing it by the served one builds it unchanged.
module jetgen.dev/testbed/provider-http

go 1.25.8

require github.com/terraform-providers/terraform-provider-http v1.2.1-0.20260814132659-be89f04ea469

replace github.com/terraform-providers/terraform-provider-http => github.com/hashicorp/terraform-provider-http v1.2.1-0.20260814132659-be89f04ea469
