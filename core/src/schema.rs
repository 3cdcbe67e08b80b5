//! JSON Schemas, compiled once, and what validating an artifact against one yields.
//!
//! Drafts 4, 6, 7, 2019-09 and 2020-12 are accepted (the draft comes from `$schema`, 2020-12
//! when absent); `format` is asserted, not merely annotated; nothing is fetched from the
//! network (`jsonschema` is built without its resolver features, so a remote `$ref` is a
//! compile error).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::{Code, Error};

/// At most this many validation errors are kept for one artifact: enough to repair it, bounded
/// for the database and the repair prompt.
pub const MAX_ISSUES: usize = 50;

/// One reason an artifact does not conform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationIssue {
    /// JSON pointer into the artifact ("" for the whole document).
    pub instance_path: String,
    /// JSON pointer into the schema ("" when the artifact is not JSON at all).
    pub schema_path: String,
    pub message: String,
}

impl ValidationIssue {
    pub fn to_json(&self) -> Value {
        json!({
            "instancePath": self.instance_path,
            "schemaPath": self.schema_path,
            "message": self.message,
        })
    }

    /// An issue with the document as a whole (no instance or schema path).
    pub fn of_document(message: String) -> ValidationIssue {
        ValidationIssue { instance_path: String::new(), schema_path: String::new(), message }
    }

    pub fn from_json(value: &Value) -> Option<ValidationIssue> {
        let text = |key: &str| value.get(key)?.as_str().map(str::to_owned);
        Some(ValidationIssue {
            instance_path: text("instancePath")?,
            schema_path: text("schemaPath")?,
            message: text("message")?,
        })
    }
}

/// The result of validating one artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    Valid,
    Invalid(Vec<ValidationIssue>),
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        matches!(self, Validation::Valid)
    }

    pub fn issues(&self) -> &[ValidationIssue] {
        match self {
            Validation::Valid => &[],
            Validation::Invalid(issues) => issues,
        }
    }

    /// The stored form of the errors (`artifacts.validation_error`): `null` when valid,
    /// `{"errors": [...]}` otherwise.
    pub fn to_json(&self) -> Value {
        match self {
            Validation::Valid => Value::Null,
            Validation::Invalid(issues) => {
                json!({ "errors": issues.iter().map(ValidationIssue::to_json).collect::<Vec<_>>() })
            }
        }
    }

    /// Reads back what `to_json` stored; `None` if the stored value is not of that shape.
    pub fn from_stored(valid: bool, stored: &Value) -> Option<Validation> {
        if valid {
            return Some(Validation::Valid);
        }
        let issues = stored.get("errors")?.as_array()?;
        issues
            .iter()
            .map(ValidationIssue::from_json)
            .collect::<Option<Vec<_>>>()
            .map(Validation::Invalid)
    }
}

/// The key of the issue recorded for an artifact that is not JSON: such an artifact is an
/// invalid artifact (the agent is asked to repair it), never a failure of devflow.
pub const PARSE_ERROR_KEY: &str = "__devflowParseError";

/// Parses artifact bytes; text that is not JSON becomes the issue that says where it broke.
pub fn parse_artifact(bytes: &[u8]) -> Result<Value, ValidationIssue> {
    serde_json::from_slice(bytes).map_err(|error| {
        ValidationIssue::of_document(format!(
            "{PARSE_ERROR_KEY}: the artifact is not valid JSON: {error}"
        ))
    })
}

/// A compiled JSON Schema.
pub struct Schema {
    id: String,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Schema {
    /// Compiles `schema`; `id` (usually the schema file's path) names it in errors.
    pub fn compile(id: &str, schema: &Value) -> Result<Schema, Error> {
        let validator =
            jsonschema::options().should_validate_formats(true).build(schema).map_err(|error| {
                Error::new(
                    Code::SchemaInvalid,
                    format!(
                        "JSON Schema {id} does not compile: {error} (at schema path {})",
                        pointer_or_root(error.schema_path().as_str())
                    ),
                )
                .with_hint(format!("fix the schema file {id}"))
            })?;
        Ok(Schema { id: id.to_owned(), validator })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every way `instance` violates the schema, up to `MAX_ISSUES`.
    pub fn validate(&self, instance: &Value) -> Validation {
        let issues: Vec<ValidationIssue> = self
            .validator
            .iter_errors(instance)
            .take(MAX_ISSUES)
            .map(|error| ValidationIssue {
                instance_path: error.instance_path().as_str().to_owned(),
                schema_path: error.schema_path().as_str().to_owned(),
                message: error.to_string(),
            })
            .collect();
        if issues.is_empty() { Validation::Valid } else { Validation::Invalid(issues) }
    }

    /// Parses and validates artifact bytes: bytes that are not JSON are an invalid artifact.
    pub fn validate_bytes(&self, bytes: &[u8]) -> Validation {
        match parse_artifact(bytes) {
            Ok(value) => self.validate(&value),
            Err(issue) => Validation::Invalid(vec![issue]),
        }
    }
}

fn pointer_or_root(pointer: &str) -> &str {
    if pointer.is_empty() { "/" } else { pointer }
}

/// Schemas by id, each compiled once and shared.
#[derive(Debug, Default)]
pub struct SchemaRegistry {
    schemas: HashMap<String, Arc<Schema>>,
}

impl SchemaRegistry {
    pub fn new() -> SchemaRegistry {
        SchemaRegistry::default()
    }

    /// Compiles and registers `schema` under `id`, or returns the one already registered.
    pub fn register(&mut self, id: &str, schema: &Value) -> Result<Arc<Schema>, Error> {
        if let Some(existing) = self.schemas.get(id) {
            return Ok(Arc::clone(existing));
        }
        let compiled = Arc::new(Schema::compile(id, schema)?);
        self.schemas.insert(id.to_owned(), Arc::clone(&compiled));
        Ok(compiled)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Schema>> {
        self.schemas.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_schema() -> Schema {
        Schema::compile(
            "schemas/plan.schema.json",
            &json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "required": ["title", "steps"],
                "properties": {
                    "title": {"type": "string", "minLength": 1},
                    "steps": {"type": "array", "items": {"type": "string", "minLength": 1}},
                    "owner": {"type": "string", "format": "email"}
                }
            }),
        )
        .unwrap()
    }

    #[test]
    fn valid_artifact_is_valid() {
        let validation = plan_schema().validate(&json!({"title": "t", "steps": ["a"]}));
        assert_eq!(validation, Validation::Valid);
        assert_eq!(validation.to_json(), Value::Null);
    }

    #[test]
    fn every_error_carries_instance_path_schema_path_and_message() {
        let validation = plan_schema().validate(&json!({"title": "", "steps": ["a", ""]}));
        let issues = validation.issues();
        assert_eq!(issues.len(), 2, "{issues:?}");
        let paths: Vec<_> = issues.iter().map(|issue| issue.instance_path.as_str()).collect();
        assert!(paths.contains(&"/title") && paths.contains(&"/steps/1"), "{paths:?}");
        let step = issues.iter().find(|issue| issue.instance_path == "/steps/1").unwrap();
        assert_eq!(step.schema_path, "/properties/steps/items/minLength");
        assert!(step.message.contains("shorter than 1 character"), "{}", step.message);
        let stored = validation.to_json();
        assert_eq!(Validation::from_stored(false, &stored), Some(validation));
    }

    #[test]
    fn format_is_asserted() {
        let validation =
            plan_schema().validate(&json!({"title": "t", "steps": [], "owner": "nobody"}));
        assert_eq!(validation.issues()[0].instance_path, "/owner");
    }

    #[test]
    fn older_drafts_are_accepted() {
        let schema = Schema::compile(
            "d4",
            &json!({"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer", "maximum": 3, "exclusiveMaximum": true}),
        )
        .unwrap();
        assert!(schema.validate(&json!(2)).is_valid());
        assert!(!schema.validate(&json!(3)).is_valid());
    }

    #[test]
    fn bytes_that_are_not_json_are_an_invalid_artifact_not_an_error() {
        let validation = plan_schema().validate_bytes(b"{\"title\": ");
        let issue = &validation.issues()[0];
        assert_eq!(issue.instance_path, "");
        assert!(issue.message.starts_with(PARSE_ERROR_KEY), "{}", issue.message);
        assert!(issue.message.contains("line 1"), "{}", issue.message);
    }

    #[test]
    fn a_schema_that_does_not_compile_names_its_file() {
        let error =
            Schema::compile("schemas/bad.json", &json!({"type": "no-such-type"})).unwrap_err();
        assert_eq!(error.code(), Code::SchemaInvalid);
        assert!(error.message().contains("schemas/bad.json"), "{error}");
    }

    #[test]
    fn a_remote_ref_is_refused_without_network() {
        let error =
            Schema::compile("remote", &json!({"$ref": "https://example.com/s.json"})).unwrap_err();
        assert_eq!(error.code(), Code::SchemaInvalid);
    }

    #[test]
    fn registry_compiles_once() {
        let mut registry = SchemaRegistry::new();
        let a = registry.register("s", &json!({"type": "object"})).unwrap();
        let b = registry.register("s", &json!({"type": "string"})).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(registry.get("s").is_some() && registry.get("t").is_none());
    }

    #[test]
    fn issues_are_bounded() {
        let schema =
            Schema::compile("n", &json!({"type": "array", "items": {"type": "string"}})).unwrap();
        let many: Vec<i32> = (0..500).collect();
        assert_eq!(schema.validate(&json!(many)).issues().len(), MAX_ISSUES);
    }
}
