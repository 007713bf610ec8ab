// A Go provider (plugin protocol 6, go-plugin) with the schema of another: bench/backup_plan.py gives it the dbaas
// provider's GetProviderSchema answer (a file named by SAME_SCHEMA_ANSWER) and that provider's state, so that
// Terraform does for it exactly the work it does for ours. It does nothing of its own beyond what a Go provider must:
// state upgrades are decoded from JSON and encoded as msgpack, reads and plans decode and encode the state they echo.
// Built by bench/same_schema_provider.py.
package main

import (
	"context"
	"fmt"
	"io/ioutil"
	"os"

	protov1 "github.com/golang/protobuf/proto"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	ctymsgpack "github.com/zclconf/go-cty/cty/msgpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"

	pb "samebackup/tfplugin6"
)

type server struct {
	pb.UnimplementedProviderServer
	schema *pb.GetProviderSchema_Response
	types  map[string]cty.Type
}

func attrType(a *pb.Schema_Attribute) cty.Type {
	if a.NestedType != nil {
		obj := objectType(a.NestedType.Attributes)
		switch a.NestedType.Nesting {
		case pb.Schema_Object_LIST:
			return cty.List(obj)
		case pb.Schema_Object_SET:
			return cty.Set(obj)
		case pb.Schema_Object_MAP:
			return cty.Map(obj)
		}
		return obj
	}
	t, err := ctyjson.UnmarshalType(a.Type)
	if err != nil {
		panic(err)
	}
	return t
}

func objectType(attrs []*pb.Schema_Attribute) cty.Type {
	m := map[string]cty.Type{}
	for _, a := range attrs {
		m[a.Name] = attrType(a)
	}
	return cty.Object(m)
}

func blockType(b *pb.Schema_Block) cty.Type {
	m := map[string]cty.Type{}
	for _, a := range b.Attributes {
		m[a.Name] = attrType(a)
	}
	for _, nb := range b.BlockTypes {
		inner := blockType(nb.Block)
		switch nb.Nesting {
		case pb.Schema_NestedBlock_LIST:
			m[nb.TypeName] = cty.List(inner)
		case pb.Schema_NestedBlock_SET:
			m[nb.TypeName] = cty.Set(inner)
		case pb.Schema_NestedBlock_MAP:
			m[nb.TypeName] = cty.Map(inner)
		default:
			m[nb.TypeName] = inner
		}
	}
	return cty.Object(m)
}

func (s *server) GetMetadata(ctx context.Context, r *pb.GetMetadata_Request) (*pb.GetMetadata_Response, error) {
	resp := &pb.GetMetadata_Response{ServerCapabilities: s.schema.ServerCapabilities}
	for name := range s.schema.ResourceSchemas {
		resp.Resources = append(resp.Resources, &pb.GetMetadata_ResourceMetadata{TypeName: name})
	}
	for name := range s.schema.DataSourceSchemas {
		resp.DataSources = append(resp.DataSources, &pb.GetMetadata_DataSourceMetadata{TypeName: name})
	}
	return resp, nil
}

func (s *server) GetProviderSchema(ctx context.Context, r *pb.GetProviderSchema_Request) (*pb.GetProviderSchema_Response, error) {
	return s.schema, nil
}

func (s *server) ValidateProviderConfig(ctx context.Context, r *pb.ValidateProviderConfig_Request) (*pb.ValidateProviderConfig_Response, error) {
	return &pb.ValidateProviderConfig_Response{}, nil
}

func (s *server) ValidateResourceConfig(ctx context.Context, r *pb.ValidateResourceConfig_Request) (*pb.ValidateResourceConfig_Response, error) {
	return &pb.ValidateResourceConfig_Response{}, nil
}

func (s *server) ValidateDataResourceConfig(ctx context.Context, r *pb.ValidateDataResourceConfig_Request) (*pb.ValidateDataResourceConfig_Response, error) {
	return &pb.ValidateDataResourceConfig_Response{}, nil
}

func (s *server) ConfigureProvider(ctx context.Context, r *pb.ConfigureProvider_Request) (*pb.ConfigureProvider_Response, error) {
	return &pb.ConfigureProvider_Response{}, nil
}

// msgpack encodes the state `decode` reads with the resource type's cty type, as any provider returning a state does.
func (s *server) msgpack(typeName string, decode func(cty.Type) (cty.Value, error)) (*pb.DynamicValue, error) {
	ty := s.types[typeName]
	v, err := decode(ty)
	if err != nil {
		return nil, err
	}
	b, err := ctymsgpack.Marshal(v, ty)
	if err != nil {
		return nil, err
	}
	return &pb.DynamicValue{Msgpack: b}, nil
}

func (s *server) UpgradeResourceState(ctx context.Context, r *pb.UpgradeResourceState_Request) (*pb.UpgradeResourceState_Response, error) {
	state, err := s.msgpack(r.TypeName, func(ty cty.Type) (cty.Value, error) { return ctyjson.Unmarshal(r.RawState.Json, ty) })
	if err != nil {
		return nil, err
	}
	return &pb.UpgradeResourceState_Response{UpgradedState: state}, nil
}

// ReadResource echoes the state, decoded and encoded again, as any provider reading its state does.
func (s *server) ReadResource(ctx context.Context, r *pb.ReadResource_Request) (*pb.ReadResource_Response, error) {
	state, err := s.msgpack(r.TypeName, func(ty cty.Type) (cty.Value, error) {
		return ctymsgpack.Unmarshal(r.CurrentState.Msgpack, ty)
	})
	if err != nil {
		return nil, err
	}
	return &pb.ReadResource_Response{NewState: state, Private: r.Private}, nil
}

// PlanResourceChange plans the proposed new state, decoded and encoded again.
func (s *server) PlanResourceChange(ctx context.Context, r *pb.PlanResourceChange_Request) (*pb.PlanResourceChange_Response, error) {
	planned, err := s.msgpack(r.TypeName, func(ty cty.Type) (cty.Value, error) {
		return ctymsgpack.Unmarshal(r.ProposedNewState.Msgpack, ty)
	})
	if err != nil {
		return nil, err
	}
	return &pb.PlanResourceChange_Response{PlannedState: planned, PlannedPrivate: r.PriorPrivate}, nil
}

func (s *server) StopProvider(ctx context.Context, r *pb.StopProvider_Request) (*pb.StopProvider_Response, error) {
	return &pb.StopProvider_Response{}, nil
}

// grpc 1.33's codec knows the older protobuf API only: messages of the newer one are coded here.
type codec struct{}

func (codec) Marshal(v interface{}) ([]byte, error) {
	if m, ok := v.(proto.Message); ok {
		return proto.Marshal(m)
	}
	return protov1.Marshal(v.(protov1.Message))
}

func (codec) Unmarshal(data []byte, v interface{}) error {
	if m, ok := v.(proto.Message); ok {
		return proto.Unmarshal(data, m)
	}
	return protov1.Unmarshal(data, v.(protov1.Message))
}

func (codec) Name() string { return "proto" }

func init() { encoding.RegisterCodec(codec{}) }

type providerPlugin struct {
	plugin.Plugin
	server *server
}

func (p *providerPlugin) GRPCServer(b *plugin.GRPCBroker, g *grpc.Server) error {
	pb.RegisterProviderServer(g, p.server)
	return nil
}

func (p *providerPlugin) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return nil, fmt.Errorf("server only")
}

func main() {
	data, err := ioutil.ReadFile(os.Getenv("SAME_SCHEMA_ANSWER"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	schema := &pb.GetProviderSchema_Response{}
	if err := proto.Unmarshal(data, schema); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := &server{schema: schema, types: map[string]cty.Type{}}
	for name, rs := range schema.ResourceSchemas {
		s.types[name] = blockType(rs.Block)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  6,
			MagicCookieKey:   "TF_PLUGIN_MAGIC_COOKIE",
			MagicCookieValue: "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
		},
		VersionedPlugins: map[int]plugin.PluginSet{6: {"provider": &providerPlugin{server: s}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
