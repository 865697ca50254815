// Package pulumitest runs a Pulumi program under mocks and records everything it
// registers, so infra tests can assert on the resource graph: types, inputs,
// parents, dependencies and resource options.
package pulumitest

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Project is the Pulumi project name every run uses, matching Pulumi.yaml.
const Project = "edw"

// Resource is one registration the program made.
type Resource struct {
	URN    string
	Type   string
	Name   string
	ID     string
	Custom bool
	// Remote is true for multi-language components such as pulumi-eks.
	Remote bool
	Inputs resource.PropertyMap
	// State is what the mock answered: the inputs merged with faked outputs.
	State     resource.PropertyMap
	Parent    string
	DependsOn []string
	// PropertyDependencies maps an input name to the URNs it was computed from.
	PropertyDependencies map[string][]string
	Provider             string
	Providers            map[string]string
	Protect              bool
	RetainOnDelete       bool
	DeleteBeforeReplace  bool
	IgnoreChanges        []string
	ReplaceOnChanges     []string
	DeletedWith          string
	AdditionalSecrets    []string
	Aliases              []string
	// TimeoutCreate and TimeoutUpdate are the customTimeouts option ("20m0s").
	TimeoutCreate string
	TimeoutUpdate string
	// ImportID is the import option: the id of an existing resource to adopt.
	ImportID string
	// AliasURNs are the URNs the aliases name, resolved as the engine would:
	// a test that pins a URN accepts a resource moved there with an alias.
	AliasURNs []string
}

// Call is one invoke the program made.
type Call struct {
	Token    string
	Args     resource.PropertyMap
	Provider string
}

// ResourceFaker answers a registration with an id and the resource's state.
type ResourceFaker func(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error)

// InvokeFaker answers an invoke.
type InvokeFaker func(args pulumi.MockCallArgs) (resource.PropertyMap, error)

type options struct {
	stack   string
	config  map[string]string
	secrets []string
	fakes   map[string]ResourceFaker
	invokes map[string]InvokeFaker
	preview bool
}

// Option configures a run.
type Option func(*options)

// Stack sets the stack name (default "test").
func Stack(name string) Option { return func(o *options) { o.stack = name } }

// Config sets stack config values by fully qualified key ("edw:cloud").
func Config(kv map[string]string) Option {
	return func(o *options) { maps.Copy(o.config, kv) }
}

// Secret marks config keys as secret.
func Secret(keys ...string) Option {
	return func(o *options) { o.secrets = append(o.secrets, keys...) }
}

// FakeResource answers registrations of one type token with f; the default echoes
// the inputs as state.
func FakeResource(typ string, f ResourceFaker) Option {
	return func(o *options) { o.fakes[typ] = f }
}

// FakeInvoke answers one invoke token with f. An invoke with no faker fails the
// run, so a test never passes on a silently empty answer.
func FakeInvoke(token string, f InvokeFaker) Option {
	return func(o *options) { o.invokes[token] = f }
}

// Preview runs as `pulumi preview` does (unknown outputs stay unknown).
func Preview() Option { return func(o *options) { o.preview = true } }

// Graph is everything one run registered, in registration order.
type Graph struct {
	mu        sync.Mutex
	Resources []*Resource
	Calls     []Call
}

const stackReference = "pulumi:pulumi:StackReference"

type monitor struct {
	g    *Graph
	opts *options
}

func (m *monitor) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := &Resource{
		Type: args.TypeToken,
		Name: args.Name,
		// A read (ReadResource: a stack reference, a .get) is of a custom
		// resource, though the SDK's mocks say Custom: false for it.
		Custom: args.Custom || args.ReadRPC != nil,
		Inputs: args.Inputs,
	}
	if rpc := args.ReadRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.DependsOn = slices.Clone(rpc.GetDependencies())
		r.Provider = rpc.GetProvider()
	}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.DependsOn = slices.Clone(rpc.GetDependencies())
		r.Remote = rpc.GetRemote()
		r.Provider = rpc.GetProvider()
		r.Providers = rpc.GetProviders()
		r.Protect = rpc.GetProtect()
		r.RetainOnDelete = rpc.GetRetainOnDelete()
		r.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		r.IgnoreChanges = slices.Clone(rpc.GetIgnoreChanges())
		r.ReplaceOnChanges = slices.Clone(rpc.GetReplaceOnChanges())
		r.DeletedWith = rpc.GetDeletedWith()
		r.AdditionalSecrets = slices.Clone(rpc.GetAdditionalSecretOutputs())
		r.ImportID = rpc.GetImportId()
		if ct := rpc.GetCustomTimeouts(); ct != nil {
			r.TimeoutCreate, r.TimeoutUpdate = ct.GetCreate(), ct.GetUpdate()
		}
		for _, a := range rpc.GetAliases() {
			r.Aliases = append(r.Aliases, a.String())
		}
		r.AliasURNs = aliasURNs(m.opts.stack, r, rpc.GetAliases())
		r.PropertyDependencies = map[string][]string{}
		for k, v := range rpc.GetPropertyDependencies() {
			r.PropertyDependencies[k] = slices.Clone(v.GetUrns())
		}
	}
	id, state := args.Name+"-id", args.Inputs.Copy()
	if args.TypeToken == stackReference {
		// What the engine reads for a stack that has no outputs yet (a new
		// one, or one after destroy); FakeResource gives it some.
		id, state = args.ID, resource.NewPropertyMapFromMap(map[string]any{
			"name": args.ID, "outputs": map[string]any{}, "secretOutputNames": []any{},
		})
	}
	if f, ok := m.opts.fakes[args.TypeToken]; ok {
		var err error
		if id, state, err = f(args); err != nil {
			return "", nil, fmt.Errorf("fake %s %s: %w", args.TypeToken, args.Name, err)
		}
	}
	if !r.Custom && !r.Remote {
		id = ""
	}
	r.ID, r.State = id, state
	m.g.mu.Lock()
	defer m.g.mu.Unlock()
	r.URN = urn(m.opts.stack, r)
	m.g.Resources = append(m.g.Resources, r)
	return id, state, nil
}

func (m *monitor) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.g.mu.Lock()
	m.g.Calls = append(m.g.Calls, Call{Token: args.Token, Args: args.Args, Provider: args.Provider})
	m.g.mu.Unlock()
	f, ok := m.opts.invokes[args.Token]
	if !ok {
		return nil, fmt.Errorf("pulumitest: no fake for invoke %s; add pulumitest.FakeInvoke", args.Token)
	}
	return f(args)
}

// urn rebuilds the URN the mock monitor assigns, so parents and dependencies (which
// arrive as URNs) can be matched to recorded resources.
func urn(stack string, r *Resource) string {
	typ := r.Type
	if parent := resource.URN(r.Parent); parent != "" && parent.IsValid() &&
		parent.QualifiedType() != resource.RootStackType {
		typ = string(parent.QualifiedType()) + "$" + r.Type
	}
	return fmt.Sprintf("urn:pulumi:%s::%s::%s::%s", stack, Project, typ, r.Name)
}

// aliasURNs resolves aliases to URNs with the engine's defaults: an empty
// name, type, stack or project is the resource's own, and a spec without a
// parent URN keeps the resource's parent unless it says NoParent.
func aliasURNs(stack string, r *Resource, aliases []*pulumirpc.Alias) []string {
	var out []string
	for _, a := range aliases {
		if u := a.GetUrn(); u != "" {
			out = append(out, u)
			continue
		}
		spec := a.GetSpec()
		if spec == nil {
			continue
		}
		old := &Resource{Type: cmp.Or(spec.GetType(), r.Type), Name: cmp.Or(spec.GetName(), r.Name), Parent: r.Parent}
		switch {
		case spec.GetParentUrn() != "":
			old.Parent = spec.GetParentUrn()
		case spec.GetNoParent():
			old.Parent = ""
		}
		u := resource.URN(urn(cmp.Or(spec.GetStack(), stack), old))
		if p := spec.GetProject(); p != "" && p != Project {
			u = resource.NewURN(u.Stack(), tokens.PackageName(p), "", u.QualifiedType(), u.Name())
		}
		out = append(out, string(u))
	}
	return out
}

// RunErr runs program under mocks and returns what it registered and its error.
func RunErr(program pulumi.RunFunc, opts ...Option) (*Graph, error) {
	o := &options{
		stack:   "test",
		config:  map[string]string{},
		fakes:   map[string]ResourceFaker{},
		invokes: map[string]InvokeFaker{},
	}
	for _, opt := range opts {
		opt(o)
	}
	g := &Graph{}
	err := pulumi.RunErr(program,
		pulumi.WithMocks(Project, o.stack, &monitor{g: g, opts: o}),
		func(info *pulumi.RunInfo) {
			info.Config = o.config
			info.ConfigSecretKeys = o.secrets
			info.DryRun = o.preview
		})
	return g, err
}

// Run runs program under mocks and fails the test if it returns an error.
func Run(t testing.TB, program pulumi.RunFunc, opts ...Option) *Graph {
	t.Helper()
	g, err := RunErr(program, opts...)
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	return g
}

// ByType returns every resource of the type token, in registration order.
func (g *Graph) ByType(typ string) []*Resource {
	var out []*Resource
	for _, r := range g.Resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Named returns the resources of the type whose logical name is name.
func (g *Graph) Named(typ, name string) []*Resource {
	var out []*Resource
	for _, r := range g.ByType(typ) {
		if r.Name == name {
			out = append(out, r)
		}
	}
	return out
}

// One returns the single resource of the type with the name and fails the test
// unless there is exactly one.
func (g *Graph) One(t testing.TB, typ, name string) *Resource {
	t.Helper()
	rs := g.Named(typ, name)
	if len(rs) != 1 {
		t.Fatalf("want exactly one %s named %q, got %d (registered of that type: %v)", typ, name, len(rs), names(g.ByType(typ)))
	}
	return rs[0]
}

// OnlyOfType returns the single resource of the type, failing unless there is one.
func (g *Graph) OnlyOfType(t testing.TB, typ string) *Resource {
	t.Helper()
	rs := g.ByType(typ)
	if len(rs) != 1 {
		t.Fatalf("want exactly one %s, got %d: %v", typ, len(rs), names(rs))
	}
	return rs[0]
}

// ByURN returns the recorded resource with the URN, or nil.
func (g *Graph) ByURN(u string) *Resource {
	for _, r := range g.Resources {
		if r.URN == u {
			return r
		}
	}
	return nil
}

// ParentOf returns the resource's parent, or nil for a top-level resource.
func (g *Graph) ParentOf(r *Resource) *Resource { return g.ByURN(r.Parent) }

// ChildrenOf returns the resources whose parent is r.
func (g *Graph) ChildrenOf(r *Resource) []*Resource {
	var out []*Resource
	for _, c := range g.Resources {
		if c.Parent == r.URN {
			out = append(out, c)
		}
	}
	return out
}

// DescendantsOf returns every resource under r in the parent tree.
func (g *Graph) DescendantsOf(r *Resource) []*Resource {
	var out []*Resource
	for _, c := range g.ChildrenOf(r) {
		out = append(out, c)
		out = append(out, g.DescendantsOf(c)...)
	}
	return out
}

// Ancestors returns r's parent, grandparent, and so on.
func (g *Graph) Ancestors(r *Resource) []*Resource {
	var out []*Resource
	for p := g.ParentOf(r); p != nil; p = g.ParentOf(p) {
		out = append(out, p)
	}
	return out
}

// DependsOnDirectly reports whether a lists b among its dependencies (DependsOn
// or the resources its inputs were computed from).
func (g *Graph) DependsOnDirectly(a, b *Resource) bool {
	if slices.Contains(a.DependsOn, b.URN) {
		return true
	}
	for _, urns := range a.PropertyDependencies {
		if slices.Contains(urns, b.URN) {
			return true
		}
	}
	return false
}

// DependsOn reports whether the engine will order a after b on create and before
// b on delete: a, or one of its ancestors, depends on b or on a descendant of b,
// directly or through a chain of such dependencies.
func (g *Graph) DependsOn(a, b *Resource) bool {
	targets := map[string]bool{b.URN: true}
	for _, d := range g.DescendantsOf(b) {
		targets[d.URN] = true
	}
	seen := map[string]bool{}
	var visit func(r *Resource) bool
	visit = func(r *Resource) bool {
		if r == nil || seen[r.URN] {
			return false
		}
		seen[r.URN] = true
		for _, n := range append([]*Resource{r}, g.Ancestors(r)...) {
			deps := slices.Clone(n.DependsOn)
			for _, urns := range n.PropertyDependencies {
				deps = append(deps, urns...)
			}
			for _, d := range deps {
				if targets[d] || visit(g.ByURN(d)) {
					return true
				}
			}
		}
		return false
	}
	return visit(a)
}

// Invoked returns the calls made with the token.
func (g *Graph) Invoked(token string) []Call {
	var out []Call
	for _, c := range g.Calls {
		if c.Token == token {
			out = append(out, c)
		}
	}
	return out
}

func splitPath(path string) []string {
	var segs []string
	var cur strings.Builder
	for i := 0; i < len(path); i++ {
		switch {
		case path[i] == '\\' && i+1 < len(path) && path[i+1] == '.':
			cur.WriteByte('.')
			i++
		case path[i] == '.':
			segs = append(segs, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(path[i])
		}
	}
	return append(segs, cur.String())
}

func names(rs []*Resource) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// String is the URN's short form, for failure messages.
func (r *Resource) String() string { return r.Type + "::" + r.Name }

// Input returns the input at a dotted path ("spec.template.spec"), with numeric
// segments indexing arrays, and whether it exists. A key that contains dots is
// written with them escaped: `metadata.annotations.eks\.amazonaws\.com/role-arn`.
func (r *Resource) Input(path string) (resource.PropertyValue, bool) {
	return lookup(resource.NewObjectProperty(r.Inputs), path)
}

func lookup(v resource.PropertyValue, path string) (resource.PropertyValue, bool) {
	if path == "" {
		return v, true
	}
	for _, seg := range splitPath(path) {
		for v.IsSecret() {
			v = v.SecretValue().Element
		}
		if v.IsOutput() {
			v = v.OutputValue().Element
		}
		switch {
		case v.IsObject():
			next, ok := v.ObjectValue()[resource.PropertyKey(seg)]
			if !ok {
				return resource.PropertyValue{}, false
			}
			v = next
		case v.IsArray():
			var i int
			if _, err := fmt.Sscanf(seg, "%d", &i); err != nil || i < 0 || i >= len(v.ArrayValue()) {
				return resource.PropertyValue{}, false
			}
			v = v.ArrayValue()[i]
		default:
			return resource.PropertyValue{}, false
		}
	}
	return v, true
}

// Str returns the string input at path, failing the test if it is missing or not
// a string. Secrets are unwrapped.
func (r *Resource) Str(t testing.TB, path string) string {
	t.Helper()
	v, ok := r.Input(path)
	for ok && v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !ok || !v.IsString() {
		t.Fatalf("%s: input %q is not a string (present: %v, value: %v)", r, path, ok, v)
	}
	return v.StringValue()
}

// Plain returns the input at path as plain Go values (maps, slices, strings,
// float64, bool), secrets unwrapped, and whether it exists.
func (r *Resource) Plain(path string) (any, bool) {
	v, ok := r.Input(path)
	if !ok {
		return nil, false
	}
	return plain(v), true
}

func plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsOutput():
		return plain(v.OutputValue().Element)
	case v.IsNull(), v.IsComputed():
		return nil
	case v.IsString():
		return v.StringValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsBool():
		return v.BoolValue()
	case v.IsArray():
		out := make([]any, 0, len(v.ArrayValue()))
		for _, e := range v.ArrayValue() {
			out = append(out, plain(e))
		}
		return out
	case v.IsObject():
		out := map[string]any{}
		for k, e := range v.ObjectValue() {
			out[string(k)] = plain(e)
		}
		return out
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	default:
		return v.V
	}
}
