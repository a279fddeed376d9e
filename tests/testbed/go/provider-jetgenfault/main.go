// terraform-provider-jetgenfault: a provider built by the test bed only for jetgen's fault
// tests. Its one resource, jetgenfault_object, is a file in the directory the provider's
// `root` argument names, under an ID the provider picks at random when it creates it, so a
// create that is repeated blindly leaves a second file: duplicates and leaks are counted by
// listing that directory (entries starting with "." are not objects).
//
// Knobs for the tests:
//   - create_delay_ms / update_delay_ms / delete_delay_ms: sleep inside the operation, after
//     the object was written (create, update) or removed (delete), as a slow cloud API that
//     has done the work but not answered yet; a kill in that window is the dangerous one.
//   - <root>/.crash-after-create: the next Create writes its object, removes this file and
//     exits the provider process without answering (a provider crash).
//   - <root>/.fail-create: every Create fails with an error before creating anything.
//   - <root>/.creating: written with the ID just before Create sleeps (where a test waits).
//
// Every operation is appended to <root>/.journal ("create <id>", "update <id>", ...).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	providerschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func main() {
	err := providerserver.Serve(context.Background(), newProvider, providerserver.ServeOpts{
		Address:         "registry.terraform.io/jetgen/jetgenfault",
		ProtocolVersion: 5,
	})
	if err != nil {
		log.Fatal(err)
	}
}

type faultProvider struct{}

func newProvider() provider.Provider { return &faultProvider{} }

func (p *faultProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "jetgenfault"
}

func (p *faultProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = providerschema.Schema{
		Attributes: map[string]providerschema.Attribute{
			"root": providerschema.StringAttribute{
				Required:    true,
				Description: "Directory holding the objects, one file per object.",
			},
		},
	}
}

type providerModel struct {
	Root types.String `tfsdk:"root"`
}

func (p *faultProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var config providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	root := config.Root.ValueString()
	if root == "" {
		resp.Diagnostics.AddError("root is empty", "the provider needs a directory for its objects")
		return
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		resp.Diagnostics.AddError("cannot create root", err.Error())
		return
	}
	resp.ResourceData = root
}

func (p *faultProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{func() resource.Resource { return &object{} }}
}

func (p *faultProvider) DataSources(context.Context) []func() datasource.DataSource {
	return nil
}

// object is jetgenfault_object.
type object struct{ root string }

type objectModel struct {
	ID            types.String `tfsdk:"id"`
	Content       types.String `tfsdk:"content"`
	Shape         types.String `tfsdk:"shape"`
	CreateDelayMs types.Int64  `tfsdk:"create_delay_ms"`
	UpdateDelayMs types.Int64  `tfsdk:"update_delay_ms"`
	DeleteDelayMs types.Int64  `tfsdk:"delete_delay_ms"`
}

// stored is what the file of an object holds.
type stored struct {
	Content string `json:"content"`
	Shape   string `json:"shape"`
}

func (r *object) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_object"
}

func (r *object) Configure(_ context.Context, req resource.ConfigureRequest, _ *resource.ConfigureResponse) {
	if root, ok := req.ProviderData.(string); ok {
		r.root = root
	}
}

func (r *object) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A file under the provider's root with a provider-chosen random ID.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed:      true,
				Description:   "Chosen by the provider at random when the object is created.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"content": schema.StringAttribute{Required: true, Description: "Updated in place."},
			"shape": schema.StringAttribute{
				Optional:      true,
				Description:   "Changing it replaces the object.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"create_delay_ms": schema.Int64Attribute{Optional: true, Description: "Sleep in Create after writing."},
			"update_delay_ms": schema.Int64Attribute{Optional: true, Description: "Sleep in Update after writing."},
			"delete_delay_ms": schema.Int64Attribute{Optional: true, Description: "Sleep in Delete after removing."},
		},
	}
}

func (r *object) file(id string) string { return filepath.Join(r.root, id) }

func (r *object) journal(op, id string) {
	f, err := os.OpenFile(filepath.Join(r.root, ".journal"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintf(f, "%s %s\n", op, id)
		f.Close()
	}
}

// write replaces an object's file atomically (a dot-named temporary file is no object).
func (r *object) write(id string, m *objectModel) error {
	data, err := json.Marshal(stored{Content: m.Content.ValueString(), Shape: m.Shape.ValueString()})
	if err != nil {
		return err
	}
	tmp := filepath.Join(r.root, ".tmp-"+id)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, r.file(id))
}

func sleep(ms types.Int64) {
	if !ms.IsNull() && ms.ValueInt64() > 0 {
		time.Sleep(time.Duration(ms.ValueInt64()) * time.Millisecond)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (r *object) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan objectModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if exists(filepath.Join(r.root, ".fail-create")) {
		resp.Diagnostics.AddError("create refused", "injected failure: nothing was created")
		return
	}
	raw := make([]byte, 8)
	if _, err := rand.Read(raw); err != nil {
		resp.Diagnostics.AddError("no randomness", err.Error())
		return
	}
	id := "obj-" + hex.EncodeToString(raw)
	if err := r.write(id, &plan); err != nil {
		resp.Diagnostics.AddError("cannot write object", err.Error())
		return
	}
	r.journal("create", id)
	crash := filepath.Join(r.root, ".crash-after-create")
	if exists(crash) {
		os.Remove(crash)
		r.journal("crash", id)
		os.Exit(3) // the object exists; nobody is told its ID
	}
	os.WriteFile(filepath.Join(r.root, ".creating"), []byte(id), 0o644)
	sleep(plan.CreateDelayMs)
	plan.ID = types.StringValue(id)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *object) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state objectModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := state.ID.ValueString()
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsRune(id, filepath.Separator) {
		resp.Diagnostics.AddError("invalid ID", fmt.Sprintf("%q is not an object ID", id))
		return
	}
	data, err := os.ReadFile(r.file(id))
	if errors.Is(err, fs.ErrNotExist) {
		resp.State.RemoveResource(ctx) // gone: Terraform drops it from the state
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("cannot read object", err.Error())
		return
	}
	var s stored
	if err := json.Unmarshal(data, &s); err != nil {
		resp.Diagnostics.AddError("corrupt object", err.Error())
		return
	}
	state.Content = types.StringValue(s.Content)
	if s.Shape == "" {
		state.Shape = types.StringNull()
	} else {
		state.Shape = types.StringValue(s.Shape)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *object) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state objectModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := state.ID.ValueString()
	if !exists(r.file(id)) {
		resp.Diagnostics.AddError("object is gone", id)
		return
	}
	if err := r.write(id, &plan); err != nil {
		resp.Diagnostics.AddError("cannot write object", err.Error())
		return
	}
	r.journal("update", id)
	sleep(plan.UpdateDelayMs)
	plan.ID = state.ID
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *object) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state objectModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := state.ID.ValueString()
	if err := os.Remove(r.file(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		resp.Diagnostics.AddError("cannot delete object", err.Error())
		return
	}
	r.journal("delete", id)
	sleep(state.DeleteDelayMs)
}

func (r *object) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

var (
	_ resource.ResourceWithConfigure   = &object{}
	_ resource.ResourceWithImportState = &object{}
)
