// Wrapper module: builds the tofu CLI. OpenTofu's own go.mod replaces
// github.com/hashicorp/hcl/v2 by its fork, and `go install pkg@version` refuses
// modules with replace directives, so the same replace is repeated here.
module jetgen.dev/testbed/opentofu

go 1.24.13

require github.com/opentofu/opentofu v1.10.10

replace github.com/hashicorp/hcl/v2 v2.20.1 => github.com/opentofu/hcl/v2 v2.20.2-0.20251021132045-587d123c2828
