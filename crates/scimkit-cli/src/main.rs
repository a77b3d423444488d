//! `scimkit`: serve, administer and debug SCIM 2.0 provisioning.
//!
//! Every debugging subcommand follows one contract: JSON on stdout; exit 0 on success, 2
//! when the input is rejected with a SCIM error (the RFC 7644 §3.12 error JSON is printed on
//! stdout), 1 on a usage or IO error (a message on stderr).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod serve;

/// mimalloc rather than the system allocator: a request allocates and frees hundreds of
/// small objects on two threads, and glibc's malloc spent a tenth of the server's time on
/// them under load (measured with `perf` and `scimkit-load`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use scimkit_schema::{Mode, NormalizeOptions, Registry, ScimError, ScimType};
use serde_json::Value;

#[derive(Debug, Parser)]
#[command(
    name = "scimkit",
    version,
    about = "SCIM 2.0 provisioning toolkit: serve, administer and debug"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the SCIM service: SQLite in ./scimkit-data/ (or --database postgres://…), tenant
    /// `default`, listening on 127.0.0.1:8080. On first start it prints tenant default's
    /// token once, as `{"tenant", "token", "base_url", "id"}`.
    Serve(serve::ServeArgs),
    /// Create and list tenants.
    #[command(subcommand)]
    Tenant(serve::TenantCommand),
    /// Issue, list and revoke bearer tokens.
    #[command(subcommand)]
    Token(serve::TokenCommand),
    /// Print a tenant's audit log (newest first) as JSON.
    Log(serve::LogArgs),
    /// Validate and normalize a User or Group document, as a server would store it.
    ///
    /// Prints the normalized resource (exit 0) or the SCIM error (exit 2).
    Validate(ValidateArgs),
    /// Parse and evaluate SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths.
    #[command(subcommand)]
    Filter(FilterCommand),
    /// Apply PATCH requests (RFC 7644 §3.5.2) to resources.
    #[command(subcommand)]
    Patch(PatchCommand),
}

#[derive(Debug, Subcommand)]
enum PatchCommand {
    /// Apply a PatchOp to a resource and print the result (exit 0) or the SCIM error (exit 2).
    Apply(PatchArgs),
}

#[derive(Debug, clap::Args)]
struct PatchArgs {
    /// The stored resource (JSON), or `-` for standard input.
    #[arg(long, value_name = "FILE|-")]
    resource: PathBuf,
    /// The PatchOp request body (JSON), or `-` for standard input.
    #[arg(long, value_name = "FILE|-")]
    patch: PathBuf,
    /// Which IdP tolerances apply: strict, lenient (the default), entra, okta, google,
    /// onelogin, jumpcloud.
    #[arg(long, value_name = "NAME", default_value = "lenient")]
    profile: String,
    /// Print `{"resource", "changed", "changedAttributes", "normalizers", "members"}`: what
    /// changed, which normalizers fired, and the membership delta.
    #[arg(long)]
    explain: bool,
    /// The resource type; inferred from the resource's `schemas` when absent.
    #[arg(long, value_name = "TYPE")]
    resource_type: Option<String>,
    /// A directory of extra schemas: one RFC 7643 §7 schema (or §6 resource type) per .json file.
    #[arg(long, value_name = "DIR")]
    schemas: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum FilterCommand {
    /// Parse a filter (or, with --path, a PATCH path) and print its canonical form and tree.
    ///
    /// Prints `{"canonical": "...", "ast": {...}}` (exit 0) or the SCIM error with the byte
    /// offset and a caret under the fault (exit 2).
    Parse {
        /// Parse a PATCH path (`emails[type eq "work"].value`) instead of a filter.
        #[arg(long)]
        path: bool,
        /// The filter or path.
        #[arg(value_name = "EXPR")]
        expr: String,
    },
    /// Evaluate a filter against a resource document and print `true` or `false`.
    ///
    /// The resource type (and so each attribute's type and caseExact) comes from the
    /// document's `schemas` unless --resource-type is given.
    Eval {
        /// The filter.
        #[arg(value_name = "EXPR")]
        expr: String,
        /// The resource document, or `-` for standard input.
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
        /// The resource type (User, Group, or a custom one).
        #[arg(long, value_name = "TYPE")]
        resource_type: Option<String>,
        /// A directory of extra schemas: one RFC 7643 §7 schema (or §6 resource type) per .json file.
        #[arg(long, value_name = "DIR")]
        schemas: Option<PathBuf>,
        /// Fail on attributes the resource type does not define, instead of matching nothing.
        #[arg(long)]
        strict: bool,
    },
}

#[derive(Debug, clap::Args)]
struct ValidateArgs {
    /// The resource type (User, Group, or a custom one); inferred from `schemas` when absent.
    #[arg(long, value_name = "TYPE")]
    resource_type: Option<String>,
    /// A directory of extra schemas: one RFC 7643 §7 schema (or §6 resource type) per .json file.
    #[arg(long, value_name = "DIR")]
    schemas: Option<PathBuf>,
    /// Accept what real identity providers send: string booleans, single values for lists,
    /// unknown attributes and schema URNs dropped, `schemas` inferred.
    #[arg(long)]
    lenient: bool,
    /// Validate as a replace (PUT) of this stored resource: immutable attributes must not change.
    #[arg(long, value_name = "FILE")]
    existing: Option<PathBuf>,
    /// The document to validate, or `-` for standard input.
    #[arg(value_name = "FILE|-")]
    file: PathBuf,
}

/// How a subcommand ended.
enum Outcome {
    /// Success: JSON for stdout.
    Done(Value),
    /// The input was rejected: the SCIM error JSON for stdout.
    Rejected(Value),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage_error = e.use_stderr();
            let _ = e.print();
            return if usage_error {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Serve(args) => {
            return match serve::serve(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("scimkit: {message}");
                    ExitCode::from(1)
                }
            };
        }
        Command::Tenant(c) => serve::tenant(c).map(Outcome::Done),
        Command::Token(c) => serve::token(c).map(Outcome::Done),
        Command::Log(args) => serve::log(args).map(Outcome::Done),
        Command::Validate(args) => validate(args),
        Command::Filter(FilterCommand::Parse { path, expr }) => Ok(filter_parse(&expr, path)),
        Command::Filter(FilterCommand::Eval {
            expr,
            file,
            resource_type,
            schemas,
            strict,
        }) => filter_eval(
            &expr,
            &file,
            resource_type.as_deref(),
            schemas.as_deref(),
            strict,
        ),
        Command::Patch(PatchCommand::Apply(args)) => patch_apply(args),
    };
    match result {
        Ok(Outcome::Done(json)) => {
            println!("{}", pretty(&json));
            ExitCode::SUCCESS
        }
        Ok(Outcome::Rejected(error)) => {
            println!(
                "{}",
                pretty(&serde_json::to_value(&error).expect("errors serialize"))
            );
            ExitCode::from(2)
        }
        Err(message) => {
            eprintln!("scimkit: {message}");
            ExitCode::from(1)
        }
    }
}

fn pretty(json: &Value) -> String {
    serde_json::to_string_pretty(json).expect("JSON values serialize")
}

fn validate(args: ValidateArgs) -> Result<Outcome, String> {
    let registry = registry(args.schemas.as_deref())?;
    if let Some(name) = args
        .resource_type
        .as_deref()
        .filter(|n| registry.resource_type(n).is_none())
    {
        let known: Vec<&str> = registry
            .resource_types()
            .iter()
            .map(|rt| rt.name.as_str())
            .collect();
        return Err(format!(
            "unknown resource type `{name}`; known: {}",
            known.join(", ")
        ));
    }
    let options = if args.lenient {
        NormalizeOptions::lenient()
    } else {
        NormalizeOptions::strict()
    };
    let existing = match &args.existing {
        Some(path) => match read_json(path)? {
            Ok(Value::Object(map)) => Some(map),
            Ok(_) => {
                return Err(format!(
                    "{}: the stored resource must be a JSON object",
                    path.display()
                ));
            }
            Err(e) => {
                return Err(format!(
                    "{}: {}",
                    path.display(),
                    e.detail.unwrap_or_default()
                ));
            }
        },
        None => None,
    };
    let body = match read_json(&args.file)? {
        Ok(body) => body,
        Err(e) => {
            return Ok(Outcome::Rejected(
                serde_json::to_value(e).expect("errors serialize"),
            ));
        }
    };
    let mode = match &existing {
        Some(existing) => Mode::Replace { existing },
        None => Mode::Create,
    };
    Ok(
        match registry.normalize(args.resource_type.as_deref(), body, mode, &options) {
            Ok((_, resource)) => Outcome::Done(Value::Object(resource)),
            Err(e) => Outcome::Rejected(
                serde_json::to_value(e.to_scim_error()).expect("errors serialize"),
            ),
        },
    )
}

/// A parse error as the SCIM error JSON, with its byte offset as an extra member.
fn parse_error(e: &scimkit_filter::ParseError) -> Outcome {
    let mut json = serde_json::to_value(e.to_scim_error()).expect("errors serialize");
    json["offset"] = Value::from(e.offset());
    Outcome::Rejected(json)
}

fn filter_parse(expr: &str, path: bool) -> Outcome {
    let parsed = if path {
        scimkit_filter::parse_patch_path(expr).map(|p| (p.to_string(), p.to_json()))
    } else {
        scimkit_filter::parse(expr).map(|f| (f.to_string(), f.to_json()))
    };
    match parsed {
        Ok((canonical, ast)) => {
            Outcome::Done(serde_json::json!({"canonical": canonical, "ast": ast}))
        }
        Err(e) => parse_error(&e),
    }
}

fn filter_eval(
    expr: &str,
    file: &Path,
    resource_type: Option<&str>,
    schemas: Option<&Path>,
    strict: bool,
) -> Result<Outcome, String> {
    let registry = registry(schemas)?;
    let filter = match scimkit_filter::parse(expr) {
        Ok(filter) => filter,
        Err(e) => return Ok(parse_error(&e)),
    };
    let resource = match read_json(file)? {
        Ok(Value::Object(resource)) => resource,
        Ok(other) => {
            let e = ScimError::typed(
                ScimType::InvalidSyntax,
                format!(
                    "the resource must be a JSON object, found {}",
                    json_kind(&other)
                ),
            );
            return Ok(Outcome::Rejected(
                serde_json::to_value(e).expect("errors serialize"),
            ));
        }
        Err(e) => {
            return Ok(Outcome::Rejected(
                serde_json::to_value(e).expect("errors serialize"),
            ));
        }
    };
    let name = match resource_type {
        Some(name) => {
            let known = registry.resource_type(name).map(|rt| rt.name.clone());
            known.ok_or_else(|| format!("unknown resource type `{name}`"))?
        }
        None => {
            let urns = resource.get("schemas").and_then(Value::as_array);
            let urns = urns.into_iter().flatten().filter_map(Value::as_str);
            match registry.resource_type_for(urns) {
                Some(rt) => rt.name.clone(),
                None => {
                    let e = ScimError::typed(
                        ScimType::InvalidValue,
                        "the resource's `schemas` names no known resource type; pass --resource-type",
                    );
                    return Ok(Outcome::Rejected(
                        serde_json::to_value(e).expect("errors serialize"),
                    ));
                }
            }
        }
    };
    let bound = registry
        .bind(&name)
        .ok_or_else(|| format!("resource type {name} references an undefined schema"))?;
    let mut options = scimkit_filter::EvalOptions::default();
    options.strict = strict;
    Ok(match filter.matches_with(&resource, &bound, options) {
        Ok(matched) => Outcome::Done(Value::Bool(matched)),
        Err(e) => {
            Outcome::Rejected(serde_json::to_value(e.to_scim_error()).expect("errors serialize"))
        }
    })
}

fn patch_apply(args: PatchArgs) -> Result<Outcome, String> {
    let registry = registry(args.schemas.as_deref())?;
    let profile: scimkit_patch::Profile = args.profile.parse()?;
    if args.resource == Path::new("-") && args.patch == Path::new("-") {
        return Err("only one of --resource and --patch can be `-`".into());
    }
    let rejected = |e: ScimError| {
        Ok(Outcome::Rejected(
            serde_json::to_value(e).expect("errors serialize"),
        ))
    };
    let resource = match read_json(&args.resource)? {
        Ok(Value::Object(resource)) => resource,
        Ok(other) => {
            return rejected(ScimError::typed(
                ScimType::InvalidSyntax,
                format!(
                    "the resource must be a JSON object, found {}",
                    json_kind(&other)
                ),
            ));
        }
        Err(e) => return rejected(e),
    };
    let patch = match read_json(&args.patch)? {
        Ok(patch) => patch,
        Err(e) => return rejected(e),
    };
    let name = match &args.resource_type {
        Some(name) => registry
            .resource_type(name)
            .map(|rt| rt.name.clone())
            .ok_or_else(|| format!("unknown resource type `{name}`"))?,
        None => {
            let urns = resource.get("schemas").and_then(Value::as_array);
            let urns = urns.into_iter().flatten().filter_map(Value::as_str);
            match registry.resource_type_for(urns) {
                Some(rt) => rt.name.clone(),
                None => {
                    return rejected(ScimError::typed(
                        ScimType::InvalidValue,
                        "the resource's `schemas` names no known resource type; pass --resource-type",
                    ));
                }
            }
        }
    };
    let bound = registry
        .bind(&name)
        .ok_or_else(|| format!("resource type {name} references an undefined schema"))?;
    let patched = match scimkit_patch::apply(&bound, &resource, patch, &profile, None) {
        Ok(patched) => patched,
        Err(e) => return rejected(e.to_scim_error()),
    };
    if !args.explain {
        return Ok(Outcome::Done(Value::Object(patched.resource)));
    }
    let normalizers: Vec<&str> = patched.normalizers.iter().map(|n| n.as_str()).collect();
    Ok(Outcome::Done(serde_json::json!({
        "resource": patched.resource,
        "changed": patched.changed,
        "changedAttributes": patched.changed_attributes,
        "profile": profile.name(),
        "normalizers": normalizers,
        "members": patched.members.to_json(),
    })))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The built-in registry plus the schemas in `dir`.
fn registry(dir: Option<&Path>) -> Result<Registry, String> {
    let mut registry = Registry::new();
    let Some(dir) = dir else { return Ok(registry) };
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("json"))
                && p.is_file()
        })
        .collect();
    paths.sort();
    let mut documents = Vec::with_capacity(paths.len());
    for path in paths {
        let doc = match read_json(&path)? {
            Ok(doc) => doc,
            Err(e) => {
                return Err(format!(
                    "{}: {}",
                    path.display(),
                    e.detail.unwrap_or_default()
                ));
            }
        };
        documents.push((path.display().to_string(), doc));
    }
    registry.load(documents).map_err(|e| e.to_string())?;
    Ok(registry)
}

/// Reads a JSON document from a file or `-`. An IO failure is `Err`; malformed JSON is
/// `Ok(Err(invalidSyntax))`, since a server would answer it with that error.
fn read_json(path: &Path) -> Result<Result<Value, ScimError>, String> {
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| format!("stdin: {e}"))?;
        buf
    } else {
        std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?
    };
    Ok(serde_json::from_slice(&bytes).map_err(|e| {
        ScimError::typed(
            ScimType::InvalidSyntax,
            format!("the document is not valid JSON: {e}"),
        )
    }))
}
