// terraform-provider-jetgentest: a tiny provider served over plugin protocol 6, built only
// for jetgen's plugin client tests (none of the test bed's real providers speaks protocol
// 6). Its one resource, jetgentest_thing, keeps no remote object: it exists to exercise the
// protocol-6-only value shapes (nested attribute types), dynamic values, set nested blocks
// with computed attributes, defaults, requires-replace and computed values that change on
// update.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	providerschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func main() {
	err := providerserver.Serve(context.Background(), newProvider, providerserver.ServeOpts{
		Address:         "registry.terraform.io/jetgen/jetgentest",
		ProtocolVersion: 6,
	})
	if err != nil {
		log.Fatal(err)
	}
}

type jetgenProvider struct{}

func newProvider() provider.Provider { return &jetgenProvider{} }

func (p *jetgenProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "jetgentest"
}

func (p *jetgenProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = providerschema.Schema{
		Attributes: map[string]providerschema.Attribute{
			"prefix": providerschema.StringAttribute{Optional: true, Description: "Prefix of generated IDs."},
		},
	}
}

type providerModel struct {
	Prefix types.String `tfsdk:"prefix"`
}

func (p *jetgenProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var config providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	prefix := "thing-"
	if !config.Prefix.IsNull() {
		prefix = config.Prefix.ValueString()
	}
	resp.ResourceData = prefix
}

func (p *jetgenProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{func() resource.Resource { return &thing{} }}
}

func (p *jetgenProvider) DataSources(context.Context) []func() datasource.DataSource {
	return nil
}

// thing is jetgentest_thing.
type thing struct{ prefix string }

type thingModel struct {
	ID       types.String  `tfsdk:"id"`
	Name     types.String  `tfsdk:"name"`
	Size     types.Int64   `tfsdk:"size"`
	Labels   types.Map     `tfsdk:"labels"`
	Extra    types.Dynamic `tfsdk:"extra"`
	Endpoint types.Object  `tfsdk:"endpoint"`
	Rules    types.List    `tfsdk:"rules"`
	Revision types.Int64   `tfsdk:"revision"`
	Tag      types.Set     `tfsdk:"tag"`
}

var (
	endpointTypes = map[string]attr.Type{"host": types.StringType, "port": types.Int64Type}
	ruleType      = types.ObjectType{AttrTypes: map[string]attr.Type{"port": types.Int64Type, "rule_id": types.StringType}}
	tagType       = types.ObjectType{AttrTypes: map[string]attr.Type{"key": types.StringType, "etag": types.StringType}}
)

func (r *thing) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_thing"
}

func (r *thing) Configure(_ context.Context, req resource.ConfigureRequest, _ *resource.ConfigureResponse) {
	if prefix, ok := req.ProviderData.(string); ok {
		r.prefix = prefix
	}
}

func (r *thing) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A thing that only lives in Terraform state.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{Required: true},
			"size": schema.Int64Attribute{
				Optional:      true,
				Computed:      true,
				Default:       int64default.StaticInt64(3),
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
			},
			"labels": schema.MapAttribute{Optional: true, ElementType: types.StringType},
			"extra":  schema.DynamicAttribute{Optional: true},
			"endpoint": schema.SingleNestedAttribute{
				Optional:      true,
				Computed:      true,
				PlanModifiers: []planmodifier.Object{objectplanmodifier.UseStateForUnknown()},
				Attributes: map[string]schema.Attribute{
					"host": schema.StringAttribute{Optional: true},
					"port": schema.Int64Attribute{Computed: true},
				},
			},
			"rules": schema.ListNestedAttribute{
				Optional: true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"port":    schema.Int64Attribute{Required: true},
						"rule_id": schema.StringAttribute{Computed: true},
					},
				},
			},
			"revision": schema.Int64Attribute{Computed: true},
		},
		Blocks: map[string]schema.Block{
			"tag": schema.SetNestedBlock{
				NestedObject: schema.NestedBlockObject{
					Attributes: map[string]schema.Attribute{
						"key":  schema.StringAttribute{Required: true},
						"etag": schema.StringAttribute{Computed: true},
					},
				},
			},
		},
	}
}

// fill sets the values the "remote side" computes.
func fill(m *thingModel, diags *diag.Diagnostics) {
	host := attr.Value(types.StringNull())
	if !m.Endpoint.IsNull() && !m.Endpoint.IsUnknown() {
		host = m.Endpoint.Attributes()["host"]
	}
	m.Endpoint = types.ObjectValueMust(endpointTypes, map[string]attr.Value{"host": host, "port": types.Int64Value(8080)})

	if !m.Rules.IsNull() {
		rules := []attr.Value{}
		for _, element := range m.Rules.Elements() {
			port := element.(types.Object).Attributes()["port"].(types.Int64)
			rules = append(rules, types.ObjectValueMust(ruleType.AttrTypes, map[string]attr.Value{
				"port": port, "rule_id": types.StringValue(fmt.Sprintf("rule-%d", port.ValueInt64())),
			}))
		}
		value, d := types.ListValue(ruleType, rules)
		diags.Append(d...)
		m.Rules = value
	}

	tags := []attr.Value{}
	for _, element := range m.Tag.Elements() {
		key := element.(types.Object).Attributes()["key"].(types.String)
		tags = append(tags, types.ObjectValueMust(tagType.AttrTypes, map[string]attr.Value{
			"key": key, "etag": types.StringValue("etag-" + key.ValueString()),
		}))
	}
	value, d := types.SetValue(tagType, tags)
	diags.Append(d...)
	m.Tag = value
}

func (r *thing) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan thingModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.ID = types.StringValue(r.prefix + plan.Name.ValueString())
	plan.Revision = types.Int64Value(1)
	fill(&plan, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *thing) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {
	// Nothing remote to look at: the framework returns the current state unchanged.
}

func (r *thing) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state thingModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.Revision = types.Int64Value(state.Revision.ValueInt64() + 1)
	fill(&plan, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *thing) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

func (r *thing) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

var (
	_ resource.ResourceWithConfigure   = &thing{}
	_ resource.ResourceWithImportState = &thing{}
)
