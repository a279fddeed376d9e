// Wrapper module: builds terraform-provider-random. The commit is served at
// github.com/hashicorp/terraform-provider-random but its go.mod still declares the old
// github.com/terraform-providers/... path, which `go install` rejects; requiring
// the declared path and replacing it by the served one builds it unchanged.
module jetgen.dev/testbed/provider-random

go 1.25.8

require github.com/terraform-providers/terraform-provider-random v1.3.2-0.20260824155315-e1092b0cfc07

replace github.com/terraform-providers/terraform-provider-random => github.com/hashicorp/terraform-provider-random v1.3.2-0.20260824155315-e1092b0cfc07
