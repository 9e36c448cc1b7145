using Drover.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;

namespace Drover.Hub.Http;

/// <summary>The OpenAPI document of the API at <see cref="Path"/> (Microsoft.AspNetCore.OpenApi), built from the
/// endpoints' metadata: each endpoint names its query parameters (<see cref="Query{TBuilder}"/>), its answers
/// (<c>Produces</c>) and its errors (<see cref="Problems"/>); the gate's errors are added to every endpoint by
/// <see cref="AddGateProblems"/>. Open, as <c>/healthz</c> is: it holds no secret, and a client needs it before it has a
/// token.</summary>
internal static class ApiDocument
{
    public const string Path = "/openapi/v1.json";

    private const string BearerScheme = "bearer";

    public static void ConfigureServices(IServiceCollection services) =>
        services.AddOpenApi("v1", options => options.AddSchemaTransformer(NumbersAreNumbers).AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Drover hub HTTP API",
                Version = "v1",
                Description = "The hub's HTTP API (docs/http-api.md). Errors are RFC 7807 problem details with a stable `code`; "
                    + "lists are paged with `limit` and an opaque `cursor` (answer: `items` and `next`).",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>(StringComparer.Ordinal);
            document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "An API token (drover tokens create); its scope (read, submit, admin) must cover the operation.",
            };
            document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] }];
            return Task.CompletedTask;
        }));

    /// <summary>The web defaults of System.Text.Json read numbers from strings too, so the generator documents every number
    /// as "integer or string with a pattern"; the API always writes numbers, and that is what the document says.</summary>
    private static Task NumbersAreNumbers(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        if (schema.Type is { } type && (type & JsonSchemaType.String) != 0 && (type & (JsonSchemaType.Integer | JsonSchemaType.Number)) != 0)
        {
            schema.Type = type & ~JsonSchemaType.String;
            schema.Pattern = null;
        }

        return Task.CompletedTask;
    }

    public static void Map(IEndpointRouteBuilder root) =>
        root.MapOpenApi(Path).WithMetadata(RequiredScope.None);

    /// <summary>The gate's and the start's answers, on every endpoint: 400 (unknown host), 503 (starting), and on those
    /// that need a token 401 and 403. An open endpoint's operation needs no security.</summary>
    public static void AddGateProblems(EndpointBuilder endpoint, bool open)
    {
        int[] statuses = open
            ? [StatusCodes.Status400BadRequest, StatusCodes.Status503ServiceUnavailable]
            : [StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status503ServiceUnavailable];
        var declared = endpoint.Metadata.OfType<IProducesResponseTypeMetadata>().Select(m => m.StatusCode).ToHashSet();
        foreach (var status in statuses.Where(s => !declared.Contains(s)))
        {
            endpoint.Metadata.Add(new ProducesResponseTypeMetadata(status, typeof(ApiProblem), [ApiProblem.MediaType]));
        }
    }

    /// <summary>Documents the error answers <paramref name="statuses"/> as problem details.</summary>
    public static RouteHandlerBuilder Problems(this RouteHandlerBuilder builder, params int[] statuses)
    {
        foreach (var status in statuses)
        {
            builder.Produces<ApiProblem>(status, ApiProblem.MediaType);
        }

        return builder;
    }

    /// <summary>Name, summary and tag of an operation.</summary>
    public static TBuilder Describe<TBuilder>(this TBuilder builder, string name, string summary, string tag)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithName(name).WithSummary(summary).WithTags(tag);

    /// <summary>Documents a query parameter the handler reads itself (it parses them so that every 400 says what is
    /// wrong): <paramref name="type"/> <c>string</c>, <c>integer</c> or <c>date-time</c>; <paramref name="repeatable"/>
    /// for one given several times.</summary>
    public static TBuilder Query<TBuilder>(this TBuilder builder, string name, string description, string type = "string", bool repeatable = false, bool required = false)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            var schema = type switch
            {
                "integer" => new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" },
                "date-time" => new OpenApiSchema { Type = JsonSchemaType.String, Format = "date-time" },
                _ => new OpenApiSchema { Type = JsonSchemaType.String },
            };
            operation.Parameters ??= [];
            for (var i = operation.Parameters.Count - 1; i >= 0; i--)
            {
                if (operation.Parameters[i].Name == name && operation.Parameters[i].In == ParameterLocation.Query)
                {
                    operation.Parameters.RemoveAt(i);
                }
            }

            operation.Parameters.Add(new OpenApiParameter
            {
                Name = name,
                In = ParameterLocation.Query,
                Description = description,
                Required = required,
                Schema = repeatable ? new OpenApiSchema { Type = JsonSchemaType.Array, Items = schema } : schema,
                Style = ParameterStyle.Form,
                Explode = true,
            });
            return Task.CompletedTask;
        });

    /// <summary><c>limit</c> and <c>cursor</c>: the paging of every list (docs/http-api.md, "Paging").</summary>
    public static TBuilder Paged<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder
            .Query("limit", $"Most items in the page, 1 to {ApiResults.MaxPageSize} (default {ApiResults.DefaultPageSize}).", "integer")
            .Query("cursor", "The `next` of the previous page (opaque); absent for the first page.");

    /// <summary>The operation needs no token.</summary>
    public static TBuilder Open<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Security = [];
            return Task.CompletedTask;
        });

    /// <summary>The body of <c>POST /api/jobs</c>: one file as raw bytes, or files as multipart/form-data parts.</summary>
    public static RouteHandlerBuilder JobFilesBody(this RouteHandlerBuilder builder) =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            var binary = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Description = "One file as the body (its name from `name`), or several as multipart/form-data parts named `file` with a filename each.",
                Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal)
                {
                    ["application/octet-stream"] = new() { Schema = binary },
                    ["multipart/form-data"] = new()
                    {
                        Schema = new OpenApiSchema
                        {
                            Type = JsonSchemaType.Object,
                            Properties = new Dictionary<string, IOpenApiSchema>(StringComparer.Ordinal)
                            {
                                ["file"] = new OpenApiSchema { Type = JsonSchemaType.Array, Items = binary },
                            },
                        },
                    },
                },
            };
            return Task.CompletedTask;
        });
}
