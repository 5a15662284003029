//! The OpenAPI document as served: poem-openapi's output, finished by small
//! passes over its JSON.
//!
//! poem-openapi 5 writes an OpenAPI 3.0.0 document that generators and
//! linters stumble on: `nullable` beside a bare `allOf`, no `servers`, no
//! `security` on public operations, no `Retry-After` header, limits only in
//! prose. Each pass below mends one of these, says why, and has a test of
//! its own; a test over the real document checks what they promise together.
//!
//! The document is OpenAPI 3.1, whose schemas are JSON Schema 2020-12: it
//! can say what the server takes where 3.0 cannot (the names of a
//! connection's credentials are `propertyNames`; `null` is a type, not a
//! `nullable` flag whose meaning beside `allOf` readers disagree on).
//! Redocly, Spectral, openapi-typescript, openapi-python-client and
//! schemathesis read 3.1; progenitor, the Rust client's generator, reads
//! only 3.0, so `cargo xtask codegen` hands it the same document written
//! down to 3.0 (`xtask::codegen::to_openapi_3_0`), losing only what 3.0
//! cannot say.

use serde_json::{Map, Value, json};
use tenancy_core::plan::PlanCatalog;

/// The version we declare.
const OPENAPI_VERSION: &str = "3.1.0";

/// The whole document, finished; `spec` is poem-openapi's JSON. Should it
/// not parse (poem-openapi wrote it, so it does), it is served unchanged
/// rather than not at all.
pub(crate) fn finish_json(spec: &str, catalog: &PlanCatalog) -> String {
    serde_json::from_str(spec)
        .map(finish)
        .map(|mut document| {
            configured_plans(&mut document, catalog);
            document
        })
        .and_then(|document| serde_json::to_string_pretty(&document))
        .unwrap_or_else(|_| spec.to_owned())
}

/// Every pass, in order.
pub(crate) fn finish(mut document: Value) -> Value {
    declare_version(&mut document);
    relative_server(&mut document);
    license(&mut document);
    security_schemes(&mut document);
    public_security(&mut document);
    references_with_siblings(&mut document);
    apply_limits(&mut document);
    retry_after(&mut document);
    allow_on_405(&mut document);
    success_descriptions(&mut document);
    concrete_binary_downloads(&mut document);
    closed_multipart_bodies(&mut document);
    named_enums(&mut document);
    always_sent(&mut document);
    null_as_a_type(&mut document);
    document
}

/// The plans a plan change may name are this server's catalog (built in, or
/// the `--plans` file): any other id is 422 (API.md), so the document lists
/// them. Responses keep plan ids as strings: an organization may be on a
/// plan that a later catalog dropped.
fn configured_plans(document: &mut Value, catalog: &PlanCatalog) {
    if let Some(plan) = document.pointer_mut("/components/schemas/PlanRequest/properties/plan") {
        let ids: Vec<Value> = catalog
            .plans()
            .iter()
            .map(|plan| Value::from(plan.id.as_str()))
            .collect();
        plan["enum"] = Value::Array(ids);
    }
}

/// poem-openapi writes 3.0's `nullable: true`; in 3.1 `null` is one of the
/// schema's types (`"type": ["string", "null"]`), and an `enum` beside it
/// lists `null` too. Runs last, after the passes that read `nullable`.
fn null_as_a_type(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if object.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::String(single)) = object.get("type") {
                    let single = single.clone();
                    object.insert("type".to_owned(), json!([single, "null"]));
                }
                if let Some(Value::Array(values)) = object.get_mut("enum")
                    && !values.contains(&Value::Null)
                {
                    values.push(Value::Null);
                }
            }
            object.values_mut().for_each(null_as_a_type);
        }
        Value::Array(items) => items.iter_mut().for_each(null_as_a_type),
        _ => {}
    }
}

/// Strings that can only be one of a known set, named by a component, as
/// (schema, property, component). The HTTP types carry them as strings,
/// either because the set is the core's (capabilities: one list, in
/// `tenancy_core::policy`) or because an unknown value is answered by the
/// core with its own code, which a stricter parser would pre-empt.
const NAMED_ENUMS: &[(&str, &str, &str)] = &[
    ("Org", "capabilities", CAPABILITY),
    ("RoleBody", "capabilities", CAPABILITY),
    ("RoleDefinition", "capabilities", CAPABILITY),
    ("RoleRequest", "capabilities", CAPABILITY),
    ("RolePatchRequest", "capabilities", CAPABILITY),
    ("CapabilityBody", "name", CAPABILITY),
    ("OperationBody", "capability", CAPABILITY),
    ("AuthorizeRequest", "capability", CAPABILITY),
    ("SignUpInvitation", "code", "ProblemCode"),
];

/// The component of the capabilities.
const CAPABILITY: &str = "Capability";

/// Puts the core's capabilities in a component, and turns every property of
/// [`NAMED_ENUMS`] (or the items of an array property) into a reference to
/// its component; returns the entries it could not find.
fn named_enums(document: &mut Value) -> Vec<(&'static str, &'static str)> {
    let names: Vec<&str> = tenancy_core::Capability::ALL
        .iter()
        .map(|capability| capability.name())
        .collect();
    let schemas = &mut document["components"]["schemas"];
    schemas[CAPABILITY] = json!({
        "type": "string",
        "description": "A capability of the permission matrix (`GET /v1/roles` describes each).",
        "enum": names,
    });
    let mut missing = Vec::new();
    for &(schema, property, component) in NAMED_ENUMS {
        let mut reference = Map::new();
        reference.insert(
            "$ref".to_owned(),
            json!(format!("#/components/schemas/{component}")),
        );
        let Some(found) = schemas
            .get_mut(schema)
            .and_then(|schema| schema.get_mut("properties"))
            .and_then(|properties| properties.get_mut(property))
            .and_then(Value::as_object_mut)
        else {
            missing.push((schema, property));
            continue;
        };
        let description = found.get("description").cloned();
        if found.get("type") == Some(&json!("array")) {
            found.insert("items".to_owned(), Value::Object(reference));
            continue;
        }
        found.clear();
        match description {
            // A description beside a `$ref` is ignored by 3.0 readers; beside
            // a one-member `allOf` it is kept (as `references_with_siblings`).
            Some(description) => {
                found.insert("description".to_owned(), description);
                found.insert("allOf".to_owned(), json!([reference]));
            }
            None => *found = reference,
        }
    }
    missing
}

/// poem-openapi marks an `Option` field as not required, but the server
/// sends it as `null` unless the field skips `None` (and then it is not
/// `nullable` in the schema). In a schema that only responses use, a
/// nullable property is therefore always present: it is `required`, so that
/// typed clients need not guess. Schemas of request bodies keep their
/// optional fields optional.
fn always_sent(document: &mut Value) {
    let responses = referenced_schemas(document, |path| path.contains(&"responses"));
    let requests = referenced_schemas(document, |path| {
        path.contains(&"requestBody") || path.contains(&"parameters")
    });
    let Some(schemas) = document["components"]["schemas"].as_object_mut() else {
        return;
    };
    for (name, schema) in schemas.iter_mut() {
        if !responses.contains(name) || requests.contains(name) {
            continue;
        }
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            continue;
        };
        let sent: Vec<String> = properties
            .iter()
            .filter(|(_, property)| is_nullable(property))
            .map(|(key, _)| key.clone())
            .collect();
        if sent.is_empty() {
            continue;
        }
        let required = schema
            .as_object_mut()
            .map(|schema| schema.entry("required").or_insert_with(|| json!([])));
        if let Some(Value::Array(required)) = required {
            for key in sent {
                if !required.contains(&json!(key)) {
                    required.push(json!(key));
                }
            }
        }
    }
}

/// Whether a property's schema allows `null`: `nullable`, or a `oneOf` with
/// `null` (as `references_with_siblings` writes a nullable reference).
fn is_nullable(property: &Value) -> bool {
    property.get("nullable") == Some(&Value::Bool(true))
        || property["type"]
            .as_array()
            .is_some_and(|types| types.contains(&json!("null")))
        || property["oneOf"]
            .as_array()
            .is_some_and(|members| members.iter().any(|m| m["enum"] == json!([null])))
}

/// The component schemas reachable from the parts of the paths that `part`
/// selects (given the keys leading to a `$ref`), following references
/// between components.
fn referenced_schemas(
    document: &Value,
    part: impl Fn(&[&str]) -> bool,
) -> std::collections::BTreeSet<String> {
    fn collect<'a>(
        value: &'a Value,
        path: &mut Vec<&'a str>,
        found: &mut Vec<(Vec<&'a str>, &'a str)>,
    ) {
        match value {
            Value::Object(object) => {
                for (key, member) in object {
                    if key == "$ref" {
                        if let Some(target) = member.as_str() {
                            found.push((path.clone(), target));
                        }
                        continue;
                    }
                    path.push(key);
                    collect(member, path, found);
                    path.pop();
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect(item, path, found)),
            _ => {}
        }
    }
    const PREFIX: &str = "#/components/schemas/";
    let mut found = Vec::new();
    collect(&document["paths"], &mut Vec::new(), &mut found);
    let mut pending: Vec<String> = found
        .into_iter()
        .filter(|(path, _)| part(path))
        .filter_map(|(_, target)| target.strip_prefix(PREFIX).map(str::to_owned))
        .collect();
    let mut reached = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !reached.insert(name.clone()) {
            continue;
        }
        let mut inner = Vec::new();
        collect(
            &document["components"]["schemas"][name.as_str()],
            &mut Vec::new(),
            &mut inner,
        );
        pending.extend(
            inner
                .into_iter()
                .filter_map(|(_, target)| target.strip_prefix(PREFIX).map(str::to_owned)),
        );
    }
    reached
}

fn declare_version(document: &mut Value) {
    document["openapi"] = json!(OPENAPI_VERSION);
}

/// poem-openapi writes `servers: []`, which Redocly refuses and which leaves
/// generated clients without a base. A relative URL is allowed by the
/// specification: it resolves against wherever the document was fetched,
/// which is the server itself, whatever its host.
fn relative_server(document: &mut Value) {
    document["servers"] = json!([{
        "url": "/",
        "description": "The server that serves this document.",
    }]);
}

/// The licence of the API's description, from the manifest (linters ask for it).
fn license(document: &mut Value) {
    if let Some(info) = document.get_mut("info").and_then(Value::as_object_mut) {
        info.insert(
            "license".to_owned(),
            json!({
                "name": env!("CARGO_PKG_LICENSE"),
                // An SPDX expression, which 3.1 names as such.
                "identifier": env!("CARGO_PKG_LICENSE"),
            }),
        );
    }
}

/// Both schemes are HTTP bearer tokens, so a generated client could not
/// tell them apart; their descriptions and `bearerFormat` say who holds
/// which and where it is accepted.
fn security_schemes(document: &mut Value) {
    let Some(schemes) = document
        .pointer_mut("/components/securitySchemes")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    schemes.insert(
        "session".to_owned(),
        json!({
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "session token (43 base64url characters)",
            "description": "A person's session: the `token` of sign-up or sign-in, valid until sign-out or expiry. Every `/v1` route that acts for a person takes it.",
        }),
    );
    schemes.insert(
        "service_token".to_owned(),
        json!({
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "service token (the operator's secret)",
            "description": "The host's own credential, given to `tenancy serve --service-token`: it asks `authorize` and sets plans for the host's billing system. Never given to a person.",
        }),
    );
}

/// The operations of a document with their path and method.
fn operations_mut(document: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.iter_mut())
        .filter(|(method, _)| is_method(method))
        .filter_map(|(_, operation)| operation.as_object_mut())
}

fn is_method(key: &str) -> bool {
    matches!(
        key,
        "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
    )
}

/// poem-openapi leaves `security` out of an operation that takes no token,
/// and the document has no global requirement; `security: []` says in so
/// many words that the operation is public, which linters and generators
/// otherwise cannot tell from an omission.
fn public_security(document: &mut Value) {
    for operation in operations_mut(document) {
        operation
            .entry("security")
            .or_insert_with(|| Value::Array(Vec::new()));
    }
}

/// Keywords that describe a schema without constraining it, which
/// poem-openapi puts in an `allOf` member beside a `$ref`.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "default",
    "example",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// poem-openapi writes a field that refers to another schema and carries a
/// description or `nullable` as `{"allOf": [{"$ref"}, {"nullable": true}],
/// "nullable": true}`. Under 3.0.3 `nullable` without a `type` beside it
/// allows nothing, so a validator refuses the server's `null`; and
/// openapi-python-client drops the schema ("cannot take allOf a non-object").
///
/// The annotations move up beside a one-member `allOf`, and a nullable
/// reference becomes `oneOf: [{"$ref"}, {"enum": [null]}]`: valid 3.0
/// without any `nullable`, read as `Option<T>` by progenitor and as
/// `T | None` by openapi-python-client (a `type` with `nullable` beside the
/// `oneOf` makes the Python client drop the `null`, and without it Redocly
/// refuses the `nullable`).
fn references_with_siblings(value: &mut Value) {
    match value {
        Value::Object(object) => {
            rewrite_reference(object);
            object.values_mut().for_each(references_with_siblings);
        }
        Value::Array(items) => items.iter_mut().for_each(references_with_siblings),
        _ => {}
    }
}

fn rewrite_reference(object: &mut Map<String, Value>) {
    let Some(Value::Array(members)) = object.get("allOf") else {
        return;
    };
    let Some((reference, rest)) = members.split_first() else {
        return;
    };
    let is_reference = reference.as_object().is_some_and(|reference| {
        reference.len() == 1 && reference.get("$ref").is_some_and(Value::is_string)
    });
    let only_annotations = rest.iter().all(|member| {
        member.as_object().is_some_and(|member| {
            member
                .keys()
                .all(|key| key == "nullable" || ANNOTATIONS.contains(&key.as_str()))
        })
    });
    if !is_reference || !only_annotations || object.contains_key("type") {
        return;
    }
    let reference = reference.clone();
    let mut nullable = object.get("nullable") == Some(&Value::Bool(true));
    let mut annotations = Map::new();
    for member in rest.iter().filter_map(Value::as_object) {
        nullable |= member.get("nullable") == Some(&Value::Bool(true));
        for (key, annotation) in member {
            if key != "nullable" {
                annotations.insert(key.clone(), annotation.clone());
            }
        }
    }
    object.remove("allOf");
    object.remove("nullable");
    for (key, annotation) in annotations {
        object.entry(key).or_insert(annotation);
    }
    if nullable {
        object.insert("oneOf".to_owned(), json!([reference, { "enum": [null] }]));
    } else {
        object.insert("allOf".to_owned(), json!([reference]));
    }
}

/// Where a constraint goes: a property of a component schema, or a
/// parameter of every operation that has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Property {
        schema: &'static str,
        property: &'static str,
    },
    Parameter {
        location: &'static str,
        name: &'static str,
    },
    /// A component schema itself, for a constraint across its properties.
    Schema(&'static str),
}

/// A character that `str::trim` removes (Unicode `White_Space`), spelled out
/// because `\s` means something else in ECMAScript, Python and Rust.
const WHITE_SPACE: &str =
    r"\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// A character that no name holds (`tenancy_core::value::is_forbidden_in_name`).
const FORBIDDEN: &str = r"\u0000-\u001F\u007F-\u009F\u200B-\u200D\u202A-\u202E\u2066-\u2069\uFEFF";

/// A control character (`char::is_control`), which no name of a resource holds.
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";
/// A control character other than tab, line feed and carriage return: what a
/// description, a chat message or a question may not hold.
const CONTROL_BUT_LINES: &str = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F";

/// A text as `str::trim` and a character check see it: white space around,
/// then a first and last character that are neither white space nor
/// `forbidden`, and between them `inner` (a repetition such as `{0,98}`) of
/// characters that are not `forbidden`. With `optional`, white space alone
/// (or nothing) matches too.
fn trimmed_pattern(forbidden: &str, inner: &str, optional: bool) -> String {
    let text =
        format!("[^{forbidden}{WHITE_SPACE}](?:[^{forbidden}]{inner}[^{forbidden}{WHITE_SPACE}])?");
    if optional {
        format!("^[{WHITE_SPACE}]*(?:{text}[{WHITE_SPACE}]*)?$")
    } else {
        format!("^[{WHITE_SPACE}]*{text}[{WHITE_SPACE}]*$")
    }
}

/// The repetition between the first and the last character of a text of at
/// most `max` characters.
fn inner_up_to(max: usize) -> String {
    format!("{{0,{}}}", max - 2)
}

/// A name as the core parses it: 1 to 100 characters, none forbidden, once
/// trimmed. The length is in the pattern rather than in `maxLength`, which
/// would count the white space that the server trims (and so refuse names
/// that the server takes).
fn name_pattern() -> String {
    trimmed_pattern(
        FORBIDDEN,
        &inner_up_to(tenancy_core::value::ORGANIZATION_NAME_MAX_CHARS),
        false,
    )
}

/// A display name at sign-up: a name, or only white space (which the
/// server takes as no display name).
fn optional_name_pattern() -> String {
    trimmed_pattern(
        FORBIDDEN,
        &inner_up_to(tenancy_core::value::DISPLAY_NAME_MAX_CHARS),
        true,
    )
}

/// The name of an agent, report or knowledge file, or a connection's label
/// (`tenancy_core::resource::ResourceName`): 1 to 200 characters once
/// trimmed, no control character.
fn resource_name_pattern() -> String {
    trimmed_pattern(
        CONTROL,
        &inner_up_to(tenancy_core::resource::RESOURCE_NAME_MAX_CHARS),
        false,
    )
}

/// A chat message or a question (`tenancy_core::resource::Text`), or with
/// `optional` an agent's description: no control character but tab and new
/// lines. Their limits (10,000 and 4,000 characters) are too long for a
/// repetition in a pattern, so they are `maxLength` beside it, which is
/// stricter than the server by the white space it trims.
fn multiline_pattern(optional: bool) -> String {
    trimmed_pattern(CONTROL_BUT_LINES, "*", optional)
}

/// A connection's type (`tenancy_core::resource::ConnectionType`): 1 to 64
/// letters, digits, `_`, `-` or `.`, once trimmed.
fn connection_type_pattern() -> String {
    format!(
        "^[{WHITE_SPACE}]*[A-Za-z0-9_.-]{{1,{}}}[{WHITE_SPACE}]*$",
        tenancy_core::resource::CONNECTION_TYPE_MAX_CHARS
    )
}

/// The extension that marks a `pattern` as a subset of what the server
/// takes rather than all of it: a client may check its input against it and
/// is then never refused, but a client that refuses what it does not match
/// refuses some valid input. The Rust client's generator leaves such
/// patterns out (`xtask::codegen::loosen_subset_patterns`).
pub(crate) const SUBSET: &str = "x-tenancy-pattern-is-subset";

/// An email address in the ASCII form that `tenancy_core::value::EmailAddress`
/// takes as it is, with white space around: a dot-atom local part of up to
/// 64 characters in at most three dot-separated pieces, and a domain of two
/// or more labels of letters and digits with at most two single hyphens
/// inside (so never an `xn--` label, whose Punycode the server would check).
///
/// This is a subset of what the server takes, not all of it: the server also
/// normalizes Unicode forms (NFKC, IDNA) that no pattern can describe, and
/// takes longer dotted local parts and hyphenated labels. A client that
/// checks an address against it never sends one that the server refuses;
/// the total length is `maxLength` beside it.
fn email_pattern() -> String {
    let atext = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
    let local = format!(
        "(?:{atext}{{1,64}}|{atext}{{1,31}}\\.{atext}{{1,32}}|{atext}{{1,20}}\\.{atext}{{1,20}}\\.{atext}{{1,22}})"
    );
    let alnum = "[A-Za-z0-9]";
    let label = format!(
        "(?:{alnum}{{1,63}}|{alnum}{{1,31}}-{alnum}{{1,31}}|{alnum}{{1,20}}-{alnum}{{1,20}}-{alnum}{{1,21}})"
    );
    format!("^[{WHITE_SPACE}]*{local}@{label}(?:\\.{label})+[{WHITE_SPACE}]*$")
}

/// A cron expression in the numeric form that every cron reads alike: five
/// fields (or six, seconds first) separated by one space, each `*`, `*/step`
/// or a list of values in the field's range (and ranges for the day of the
/// week), days of the month up to 28 so that the schedule always fires.
///
/// A subset of what the server takes (croner's whole syntax: names, `L`,
/// `W`, `#`, ranges everywhere, days 29 to 31), which a pattern cannot bound
/// exactly: `0 0 31 2 *` is well formed and never fires, so the server
/// refuses it.
fn cron_pattern() -> String {
    // (values, steps) of each field, as alternatives of a regular expression.
    let minute = ("[0-5]?[0-9]", "[1-9]|[1-5][0-9]");
    let hour = ("[01]?[0-9]|2[0-3]", "[1-9]|1[0-9]|2[0-3]");
    let day = ("0?[1-9]|1[0-9]|2[0-8]", "[1-9]|1[0-9]|2[0-8]");
    let month = ("0?[1-9]|1[0-2]", "[1-9]|1[0-2]");
    let field = |(values, steps): (&str, &str)| {
        format!("(?:\\*|\\*/(?:{steps})|(?:{values})(?:,(?:{values}))*)")
    };
    // A day of the week, or an ascending range of them (Sunday is 0 or 7).
    let weekday = "[0-7]";
    let weekdays: Vec<String> = (0..=7)
        .map(|from| format!("{from}-[{from}-7]"))
        .chain(std::iter::once(weekday.to_owned()))
        .collect();
    let weekdays = weekdays.join("|");
    let week = format!("(?:\\*|\\*/[1-7]|(?:{weekdays})(?:,(?:{weekdays}))*)");
    format!(
        "^[{WHITE_SPACE}]*(?:{} )?{} {} {} {} {week}[{WHITE_SPACE}]*$",
        field(minute),
        field(minute),
        field(hour),
        field(day),
        field(month),
    )
}

/// A schedule's time zone: one of the IANA names that the server knows,
/// with white space around, or nothing (UTC). A pattern rather than an
/// `enum`: generators turn an enum into a type with one member per value,
/// and `Etc/GMT0`, `Etc/GMT+0` and `Etc/GMT-0` collide in openapi-python-client's
/// member names; a pattern leaves the type a string.
fn time_zone_pattern() -> String {
    let names: Vec<String> = tenancy_core::resource::time_zone_names()
        .map(|name| name.replace('+', "\\+"))
        .collect();
    format!(
        "^[{WHITE_SPACE}]*(?:(?:{})[{WHITE_SPACE}]*)?$",
        names.join("|")
    )
}

/// A role's key (`tenancy_core::RoleKey::parse`): 2 to 40 characters of
/// `a-z`, `0-9`, `_` and `-`, starting with a letter; the built-in keys are
/// of this form too.
fn role_key_pattern() -> String {
    format!(
        "^[a-z][a-z0-9_-]{{1,{}}}$",
        tenancy_core::policy::ROLE_KEY_MAX_CHARS - 1
    )
}

/// A role's name (`tenancy_core::value::RoleName`): a name of 1 to 60
/// characters.
fn role_name_pattern() -> String {
    trimmed_pattern(
        FORBIDDEN,
        &inner_up_to(tenancy_core::value::ROLE_NAME_MAX_CHARS),
        false,
    )
}

/// A role's description (`tenancy_core::value::RoleDescription`): a name of
/// at most 500 characters, or nothing (white space alone is nothing).
fn role_description_pattern() -> String {
    trimmed_pattern(
        FORBIDDEN,
        &inner_up_to(tenancy_core::value::DESCRIPTION_MAX_CHARS),
        true,
    )
}

/// A token of ours (`tenancy_core::token::SecretToken::parse`): 32 bytes in
/// base64url without padding, canonical, so the last of the 43 characters
/// carries 4 bits and two zero bits.
const TOKEN_PATTERN: &str = "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$";

/// API.md's limits that poem-openapi cannot express, in one place.
///
/// Each constraint is what the server enforces: a looser one makes
/// schemathesis send a schema-valid request that the server refuses, a
/// stricter one a schema-invalid request that it takes. Where no schema can
/// say exactly what the server takes (an address that the server normalizes
/// with NFKC and IDNA, a cron expression that must fire), the constraint is
/// a subset that the server always takes, and its description says so: a
/// client that checks against the document is never refused. Hence no
/// `format: email` (the server's address check is its own, not RFC 5322's),
/// and no pattern on `SignUpRequest.invitation_token` (sign-up with a
/// malformed invitation token succeeds and reports it `not_accepted`).
fn limits() -> Vec<(Target, Value)> {
    use Target::{Parameter, Property, Schema};
    let name = json!({ "minLength": 1, "pattern": name_pattern() });
    let resource_name = json!({ "minLength": 1, "pattern": resource_name_pattern() });
    let text = json!({
        "minLength": 1,
        "maxLength": tenancy_core::resource::TEXT_MAX_CHARS,
        "pattern": multiline_pattern(false),
    });
    let description = json!({
        "maxLength": tenancy_core::resource::DESCRIPTION_MAX_CHARS,
        "pattern": multiline_pattern(true),
    });
    let credentials = json!({
        "minProperties": 1,
        "maxProperties": tenancy_core::resource::CREDENTIALS_MAX_ENTRIES,
        "propertyNames": {
            "pattern": format!(
                "^[A-Za-z0-9_.-]{{1,{}}}$",
                tenancy_core::resource::CREDENTIAL_NAME_MAX_BYTES
            ),
        },
        "additionalProperties": {
            "type": "string",
            "minLength": 1,
            "maxLength": tenancy_core::resource::CREDENTIAL_VALUE_MAX_CHARS,
        },
    });
    let email = json!({
        "maxLength": tenancy_core::value::EMAIL_MAX_LEN,
        "pattern": email_pattern(),
        SUBSET: true,
        "description": "An email address, normalized by the server (trimmed, NFKC, lower case, the \
            domain in its IDNA ASCII form) before it is stored or compared. The pattern is the \
            plain ASCII form, which the server always takes; the server also takes Unicode forms \
            that normalize to a valid address, such as `ＡLICE@Exämple.test`.",
    });
    let connection_ids = json!({ "maxItems": tenancy_core::resource::AGENT_CONNECTIONS_MAX });
    let role_key = json!({ "pattern": role_key_pattern() });
    let builtin_keys: Vec<String> = tenancy_core::Role::BUILTIN
        .iter()
        .map(|role| role.key().to_string())
        .collect();
    let role_name = json!({ "minLength": 1, "pattern": role_name_pattern() });
    let role_description = json!({ "pattern": role_description_pattern() });
    // A role's set: each capability at most once, and `view_resources`
    // among them.
    let role_capabilities = json!({
        "uniqueItems": true,
        "contains": { "const": tenancy_core::Capability::ViewResources.name() },
    });
    let property = |schema, property| Property { schema, property };
    let mut limits = vec![
        (
            Property {
                schema: "NameRequest",
                property: "name",
            },
            name,
        ),
        (
            Property {
                schema: "SignUpRequest",
                property: "display_name",
            },
            json!({ "pattern": optional_name_pattern() }),
        ),
        (
            Property {
                schema: "AcceptRequest",
                property: "token",
            },
            json!({ "pattern": TOKEN_PATTERN }),
        ),
        (
            Parameter {
                location: "path",
                name: "token",
            },
            json!({ "pattern": TOKEN_PATTERN }),
        ),
        (
            Parameter {
                location: "query",
                name: "limit",
            },
            json!({ "minimum": 1, "maximum": 200, "default": 50 }),
        ),
        (
            Parameter {
                location: "query",
                name: "cursor",
            },
            json!({ "pattern": crate::paging::CURSOR_PATTERN }),
        ),
        // The invitations' filter is a string to the handler, so that access
        // is judged before the value; these are the values it takes.
        (
            Parameter {
                location: "query",
                name: "status",
            },
            json!({ "enum": crate::routes::INVITATION_STATUS_FILTERS, "default": "pending" }),
        ),
        // The audit log's filters are strings to the handler, so that
        // access is judged before the values; these are the forms it takes.
        (
            Parameter {
                location: "query",
                name: "action",
            },
            json!({ "enum": tenancy_core::audit::Action::ALL.iter().map(|a| a.name()).collect::<Vec<_>>() }),
        ),
        (
            Parameter {
                location: "query",
                name: "actor_id",
            },
            json!({ "format": "uuid" }),
        ),
        (
            Parameter {
                location: "query",
                name: "since",
            },
            json!({ "format": "date-time" }),
        ),
        (
            Parameter {
                location: "query",
                name: "until",
            },
            json!({ "format": "date-time" }),
        ),
        (
            property("AuditEvent", "occurred_at"),
            json!({ "format": "date-time" }),
        ),
        (
            property("AuditEvent", "action"),
            json!({ "enum": tenancy_core::audit::Action::ALL.iter().map(|a| a.name()).collect::<Vec<_>>() }),
        ),
        (
            property("AuditEvent", "prev_hash"),
            json!({ "pattern": "^[0-9a-f]{64}$" }),
        ),
        (
            property("AuditEvent", "hash"),
            json!({ "pattern": "^[0-9a-f]{64}$" }),
        ),
        (
            property("ConnectionRequest", "type"),
            json!({ "minLength": 1, "pattern": connection_type_pattern() }),
        ),
        (
            property("ConnectionRequest", "credentials"),
            credentials.clone(),
        ),
        (property("CredentialsRequest", "credentials"), credentials),
        (
            property("TransferRequest", "user_id"),
            json!({ "format": "uuid" }),
        ),
        (property("InviteRequest", "role"), role_key.clone()),
        (property("RoleChangeRequest", "role"), role_key.clone()),
        (
            property("RoleRequest", "key"),
            json!({
                "pattern": role_key_pattern(),
                "not": { "enum": builtin_keys },
            }),
        ),
        (
            Parameter {
                location: "path",
                name: "key",
            },
            role_key.clone(),
        ),
        (
            Parameter {
                location: "query",
                name: "reassign_to",
            },
            role_key,
        ),
        (
            property("ScheduleRequest", "cron"),
            json!({
                "maxLength": tenancy_core::resource::CRON_MAX_CHARS,
                "pattern": cron_pattern(),
                SUBSET: true,
                "description": "Five fields (`0 9 * * 1-5`), or six with seconds first. The pattern \
                    is the numeric form that always fires, which the server always takes; the \
                    server also takes the rest of croner's syntax (names, ranges, `L`, `W`, `#`, \
                    days 29 to 31) as long as the schedule fires, and answers 422 otherwise.",
            }),
        ),
        (
            property("ScheduleRequest", "timezone"),
            json!({ "pattern": time_zone_pattern() }),
        ),
        (
            Schema("ChatRequest"),
            json!({ "oneOf": [exactly("agent_id", "report_run_id"), exactly("report_run_id", "agent_id")] }),
        ),
    ];
    for (schema, field) in [
        ("AgentRequest", "name"),
        ("AgentPatch", "name"),
        ("ReportRequest", "name"),
        ("ReportPatch", "name"),
        ("ConnectionRequest", "label"),
        ("ConnectionPatch", "label"),
    ] {
        limits.push((property(schema, field), resource_name.clone()));
    }
    for (schema, field) in [
        ("InvestigationRequest", "question"),
        ("MessageRequest", "content"),
    ] {
        limits.push((property(schema, field), text.clone()));
    }
    for schema in ["RoleRequest", "RolePatchRequest"] {
        limits.push((property(schema, "name"), role_name.clone()));
        limits.push((property(schema, "description"), role_description.clone()));
        limits.push((property(schema, "capabilities"), role_capabilities.clone()));
    }
    for schema in ["AgentRequest", "AgentPatch"] {
        limits.push((property(schema, "description"), description.clone()));
        limits.push((property(schema, "connection_ids"), connection_ids.clone()));
    }
    for schema in [
        "SignUpRequest",
        "SignInRequest",
        "InviteRequest",
        "PasswordResetRequest",
    ] {
        limits.push((property(schema, "email"), email.clone()));
    }
    for (schema, field) in [
        ("SignUpRequest", "password"),
        ("PasswordResetConfirmRequest", "password"),
        ("PasswordChangeRequest", "new_password"),
    ] {
        limits.push((
            property(schema, field),
            json!({
                "minLength": 8,
                "maxLength": 256,
                "description": format!(
                    "8 to 256 characters, and not one of the 10,000 most common passwords, \
                     compared without regard to case (422 naming `{field}`), which no schema \
                     keyword can state."
                ),
            }),
        ));
    }
    // A token that is not one of ours is unknown (404), like any other.
    for schema in ["LinkTokenRequest", "PasswordResetConfirmRequest"] {
        limits.push((
            property(schema, "token"),
            json!({ "pattern": TOKEN_PATTERN }),
        ));
    }
    limits
}

/// A body that names `given` (a UUID) and not `other` (absent or `null`):
/// one branch of a choice of exactly one of two ids.
fn exactly(given: &str, other: &str) -> Value {
    json!({
        "required": [given],
        "properties": {
            given: { "type": "string", "format": "uuid" },
            other: { "enum": [null] },
        },
    })
}

/// Puts every constraint of [`limits`] in place and returns the targets
/// that the document lacks: a renamed schema or parameter, which the test
/// over the real document turns into a failure.
fn apply_limits(document: &mut Value) -> Vec<Target> {
    let mut missing = Vec::new();
    for (target, constraints) in limits() {
        let schemas = target_schemas(document, target);
        if schemas.is_empty() {
            missing.push(target);
        }
        for schema in schemas {
            if let (Some(schema), Some(constraints)) =
                (schema.as_object_mut(), constraints.as_object())
            {
                for (key, constraint) in constraints {
                    schema.insert(key.clone(), constraint.clone());
                }
            }
        }
    }
    missing
}

fn target_schemas(document: &mut Value, target: Target) -> Vec<&mut Value> {
    match target {
        Target::Property { schema, property } => document
            .pointer_mut(&format!(
                "/components/schemas/{schema}/properties/{property}"
            ))
            .into_iter()
            .collect(),
        Target::Schema(schema) => document
            .pointer_mut(&format!("/components/schemas/{schema}"))
            .into_iter()
            .collect(),
        Target::Parameter { location, name } => operations_mut(document)
            .filter_map(|operation| operation.get_mut("parameters"))
            .filter_map(Value::as_array_mut)
            .flat_map(|parameters| parameters.iter_mut())
            .filter(|parameter| {
                parameter.get("in") == Some(&json!(location))
                    && parameter.get("name") == Some(&json!(name))
            })
            .filter_map(|parameter| parameter.get_mut("schema"))
            .collect(),
    }
}

/// The responses of every operation, by status.
fn responses_mut(document: &mut Value) -> impl Iterator<Item = (&String, &mut Value)> {
    operations_mut(document)
        .filter_map(|operation| operation.get_mut("responses"))
        .filter_map(Value::as_object_mut)
        .flat_map(|responses| responses.iter_mut())
}

fn add_header(response: &mut Value, name: &str, header: &Value) {
    if let Some(response) = response.as_object_mut() {
        let headers = response
            .entry("headers")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(headers) = headers.as_object_mut() {
            headers.insert(name.to_owned(), header.clone());
        }
    }
}

/// Every 429 and 503 carries `Retry-After` in whole seconds, at least 1
/// (`problem::ProblemJson` sets it); declared so that clients can read it
/// without guessing, and required because the server always sends it.
fn retry_after(document: &mut Value) {
    let header = json!({
        "description": "Seconds to wait before trying again.",
        "required": true,
        "schema": { "type": "integer", "minimum": 1 },
    });
    for (status, response) in responses_mut(document) {
        if status == "429" || status == "503" {
            add_header(response, "Retry-After", &header);
        }
    }
}

/// RFC 9110 has a 405 list the methods that the path serves in `Allow`.
/// Not `required` yet: the server does not send it on every 405 (issue 13).
fn allow_on_405(document: &mut Value) {
    let header = json!({
        "description": "The methods that this path serves (RFC 9110, section 10.2.1).",
        "schema": { "type": "string" },
    });
    for (status, response) in responses_mut(document) {
        if status == "405" {
            add_header(response, "Allow", &header);
        }
    }
}

/// poem-openapi leaves `description: ""` on a success response whose
/// handler returns a bare body; generators turn it into empty docs and
/// linters flag it. The description names the status and the body.
fn success_descriptions(document: &mut Value) {
    for (status, response) in responses_mut(document) {
        if !status.starts_with('2') {
            continue;
        }
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        let empty = response
            .get("description")
            .and_then(Value::as_str)
            .is_none_or(|description| description.trim().is_empty());
        if !empty {
            continue;
        }
        let body = response
            .get("content")
            .and_then(Value::as_object)
            .and_then(|content| content.values().next())
            .and_then(|media| media.pointer("/schema/$ref"))
            .and_then(Value::as_str)
            .and_then(|reference| reference.rsplit('/').next())
            .map(|name| format!(": a `{name}`"));
        let what = match status.as_str() {
            "201" => "Created",
            "202" => "Accepted",
            "204" => "Done, without a body",
            _ => "Success",
        };
        response.insert(
            "description".to_owned(),
            json!(format!("{what}{}.", body.unwrap_or_default())),
        );
    }
}

/// A download of any media type is declared as `*/*`, which
/// openapi-python-client cannot map to bytes (it omits the response);
/// `application/octet-stream` beside it is one of the types `*/*` already
/// covers, and gives generators a concrete one.
fn concrete_binary_downloads(document: &mut Value) {
    for (_, response) in responses_mut(document) {
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        let Some(any) = content.get("*/*") else {
            continue;
        };
        if any.pointer("/schema/format") == Some(&json!("binary")) {
            let any = any.clone();
            content.entry("application/octet-stream").or_insert(any);
        }
    }
}

/// A multipart body holds the parts its schema names and no other
/// (`FileUpload::open` refuses any other part), which poem-openapi's
/// `MetaSchema` cannot say: its `additional_properties` is a schema, never
/// `false`.
fn closed_multipart_bodies(document: &mut Value) {
    for operation in operations_mut(document) {
        if let Some(schema) = operation
            .get_mut("requestBody")
            .and_then(|body| body.pointer_mut("/content/multipart~1form-data/schema"))
            .and_then(Value::as_object_mut)
        {
            schema.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document with one operation whose responses and parameters are given.
    fn with_operation(operation: Value) -> Value {
        json!({
            "openapi": "3.0.0",
            "info": { "title": "t", "version": "1" },
            "servers": [],
            "paths": { "/x": { "get": operation } },
            "components": { "schemas": {}, "securitySchemes": {} },
        })
    }

    #[test]
    fn null_becomes_a_type_and_a_value_of_enums() {
        let mut schemas = json!({
            "a": { "type": "string", "nullable": true, "format": "uuid" },
            "b": { "type": "string", "nullable": true, "enum": ["viewer"] },
            "c": { "type": "string", "nullable": true, "enum": ["viewer", null] },
            "d": { "type": "object", "properties": { "e": { "type": "integer", "nullable": true } } },
            "f": { "type": "string", "nullable": false },
            "g": { "type": "string" },
        });
        null_as_a_type(&mut schemas);
        assert_eq!(
            schemas,
            json!({
                "a": { "type": ["string", "null"], "format": "uuid" },
                "b": { "type": ["string", "null"], "enum": ["viewer", null] },
                "c": { "type": ["string", "null"], "enum": ["viewer", null] },
                "d": { "type": "object", "properties": { "e": { "type": ["integer", "null"] } } },
                "f": { "type": "string" },
                "g": { "type": "string" },
            })
        );
    }

    #[test]
    fn the_version_is_3_1_and_the_server_relative() {
        let mut document = with_operation(json!({ "responses": {} }));
        declare_version(&mut document);
        relative_server(&mut document);
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["servers"][0]["url"], "/");
        assert!(document["servers"][0]["description"].is_string());
    }

    #[test]
    fn operations_without_security_are_marked_public() {
        let mut document = json!({ "paths": { "/x": {
            "get": { "responses": {} },
            "post": { "security": [{ "session": [] }], "responses": {} },
            "parameters": [],
        } } });
        public_security(&mut document);
        assert_eq!(document["paths"]["/x"]["get"]["security"], json!([]));
        assert_eq!(
            document["paths"]["/x"]["post"]["security"],
            json!([{ "session": [] }])
        );
        assert_eq!(document["paths"]["/x"]["parameters"], json!([]));
    }

    #[test]
    fn the_two_bearer_schemes_describe_themselves() {
        let mut document = with_operation(json!({ "responses": {} }));
        document["components"]["securitySchemes"] = json!({
            "session": { "type": "http", "scheme": "bearer" },
            "service_token": { "type": "http", "scheme": "bearer" },
        });
        security_schemes(&mut document);
        let schemes = &document["components"]["securitySchemes"];
        assert_ne!(
            schemes["session"]["bearerFormat"],
            schemes["service_token"]["bearerFormat"]
        );
        assert!(schemes["session"]["description"].is_string());
        assert_eq!(schemes["service_token"]["scheme"], "bearer");
    }

    #[test]
    fn a_nullable_reference_becomes_one_of_it_or_null() {
        let mut schema = json!({
            "allOf": [{ "$ref": "#/components/schemas/RoleName" }, { "nullable": true }],
            "nullable": true,
        });
        references_with_siblings(&mut schema);
        assert_eq!(
            schema,
            json!({ "oneOf": [{ "$ref": "#/components/schemas/RoleName" }, { "enum": [null] }] })
        );
    }

    #[test]
    fn a_described_reference_keeps_its_description_beside_one_all_of() {
        let mut schema = json!({ "properties": { "role": {
            "allOf": [{ "$ref": "#/components/schemas/RoleName" }, { "description": "The role." }],
            "description": "The role.",
        } } });
        references_with_siblings(&mut schema);
        assert_eq!(
            schema["properties"]["role"],
            json!({
                "allOf": [{ "$ref": "#/components/schemas/RoleName" }],
                "description": "The role.",
            })
        );
    }

    #[test]
    fn an_all_of_that_constrains_is_left_alone() {
        let original = json!({
            "allOf": [{ "$ref": "#/components/schemas/A" }, { "required": ["b"] }],
        });
        let mut schema = original.clone();
        references_with_siblings(&mut schema);
        assert_eq!(schema, original);
    }

    #[test]
    fn limits_land_on_properties_and_on_every_matching_parameter() {
        let mut document = json!({
            "paths": {
                "/a": { "get": { "parameters": [
                    { "in": "query", "name": "limit", "schema": { "type": "integer", "minimum": 1.0 } },
                    { "in": "path", "name": "token", "schema": { "type": "string" } },
                ] } },
                "/b": { "get": { "parameters": [
                    { "in": "query", "name": "limit", "schema": { "type": "integer" } },
                ] } },
            },
            "components": { "schemas": {
                "SignUpRequest": { "properties": { "password": { "type": "string" } } },
            } },
        });
        let missing = apply_limits(&mut document);
        for path in ["/a", "/b"] {
            assert_eq!(
                document["paths"][path]["get"]["parameters"][0]["schema"],
                json!({ "type": "integer", "minimum": 1, "maximum": 200, "default": 50 })
            );
        }
        assert_eq!(
            document["paths"]["/a"]["get"]["parameters"][1]["schema"]["pattern"],
            TOKEN_PATTERN
        );
        let password =
            &document["components"]["schemas"]["SignUpRequest"]["properties"]["password"];
        assert_eq!(
            (
                &password["type"],
                &password["minLength"],
                &password["maxLength"]
            ),
            (&json!("string"), &json!(8), &json!(256))
        );
        assert!(
            password["description"]
                .as_str()
                .unwrap()
                .contains("most common")
        );
        assert!(missing.contains(&Target::Property {
            schema: "NameRequest",
            property: "name",
        }));
        assert!(!missing.contains(&Target::Parameter {
            location: "query",
            name: "limit",
        }));
    }

    #[test]
    fn retry_after_on_429_and_503_and_allow_on_405() {
        let mut document = with_operation(json!({ "responses": {
            "200": { "description": "ok" },
            "405": { "description": "no" },
            "429": { "description": "slow down" },
            "503": { "description": "later", "headers": { "X-Other": {} } },
        } }));
        retry_after(&mut document);
        allow_on_405(&mut document);
        let responses = &document["paths"]["/x"]["get"]["responses"];
        for status in ["429", "503"] {
            let header = &responses[status]["headers"]["Retry-After"];
            assert_eq!(header["schema"]["type"], "integer");
            assert_eq!(header["required"], true);
        }
        assert!(responses["503"]["headers"]["X-Other"].is_object());
        assert!(responses["405"]["headers"]["Allow"].is_object());
        assert!(responses["200"].get("headers").is_none());
        assert!(responses["405"]["headers"].get("Retry-After").is_none());
    }

    #[test]
    fn empty_success_descriptions_are_written() {
        let mut document = with_operation(json!({ "responses": {
            "200": { "description": "", "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/PlanList" } } } },
            "204": { "description": "" },
            "201": { "description": "Kept." },
            "404": { "description": "" },
        } }));
        success_descriptions(&mut document);
        let responses = &document["paths"]["/x"]["get"]["responses"];
        assert_eq!(responses["200"]["description"], "Success: a `PlanList`.");
        assert_eq!(responses["204"]["description"], "Done, without a body.");
        assert_eq!(responses["201"]["description"], "Kept.");
        assert_eq!(responses["404"]["description"], "");
    }

    #[test]
    fn a_download_of_any_type_also_names_octet_stream() {
        let binary = json!({ "schema": { "type": "string", "format": "binary" } });
        let mut document = with_operation(json!({ "responses": {
            "200": { "description": "bytes", "content": { "*/*": binary.clone() } },
        } }));
        concrete_binary_downloads(&mut document);
        let content = &document["paths"]["/x"]["get"]["responses"]["200"]["content"];
        assert_eq!(content["*/*"], binary);
        assert_eq!(content["application/octet-stream"], binary);
    }

    /// Whether `text` is a name by the core's rules, for comparing with the
    /// pattern through a regex engine of the JSON Schema family.
    fn core_takes_name(text: &str) -> bool {
        tenancy_core::value::OrganizationName::parse(text).is_ok()
    }

    #[test]
    fn the_name_pattern_agrees_with_the_core_on_its_edges() {
        let long = "n".repeat(100);
        let cases = [
            "a".to_owned(),
            " a ".to_owned(),
            "\ta\n".to_owned(),
            "a b".to_owned(),
            String::new(),
            "   ".to_owned(),
            "a\u{0}b".to_owned(),
            "a\u{202E}b".to_owned(),
            "\u{FEFF}a".to_owned(),
            "a\u{200B}".to_owned(),
            long.clone(),
            format!("  {long}  "),
            format!("{long}n"),
        ];
        let pattern = name_pattern();
        for case in cases {
            assert_eq!(
                matches_pattern(&pattern, &case),
                core_takes_name(&case),
                "{case:?}"
            );
        }
        // Every string of up to three characters from an alphabet of the
        // characters that trimming and the forbidden set treat specially.
        let alphabet = [
            'a',
            ' ',
            '\t',
            '\n',
            '\u{0}',
            '\u{85}',
            '\u{A0}',
            '\u{200B}',
            '\u{202E}',
            '\u{3000}',
            '\u{FEFF}',
            '\u{1F600}',
        ];
        let strings = strings_over(&alphabet);
        assert!(strings.len() > 1_000);
        for case in &strings {
            assert_eq!(
                matches_pattern(&pattern, case),
                core_takes_name(case),
                "{case:?}"
            );
            let display =
                tenancy_core::value::DisplayName::parse(case).is_ok() || case.trim().is_empty();
            assert_eq!(
                matches_pattern(&optional_name_pattern(), case),
                display,
                "{case:?}"
            );
        }
        assert!(matches_pattern(&optional_name_pattern(), "  "));
        assert!(matches_pattern(&optional_name_pattern(), " Alice "));
        assert!(!matches_pattern(&optional_name_pattern(), "a\u{7}"));
    }

    /// Every string of up to three characters of `alphabet`.
    #[test]
    fn the_role_patterns_agree_with_the_core() {
        use tenancy_core::RoleKey;
        use tenancy_core::value::{RoleDescription, RoleName};
        let key = role_key_pattern();
        let keys = strings_over(&['a', 'z', '0', '9', '_', '-', 'A', ' ', '\u{E9}']);
        let long = |n: usize| format!("a{}", "b".repeat(n - 1));
        let builtin: Vec<String> = tenancy_core::Role::BUILTIN
            .iter()
            .map(|role| role.key().to_string())
            .collect();
        for case in keys
            .iter()
            .cloned()
            .chain([long(40), long(41)])
            .chain(builtin)
        {
            assert_eq!(
                matches_pattern(&key, &case),
                RoleKey::parse(&case).is_ok(),
                "{case:?}"
            );
            // A new role's key is of the pattern, and not a built-in one's
            // (the `not` beside it).
            let is_builtin = tenancy_core::Role::builtin(&case).is_some();
            assert_eq!(
                matches_pattern(&key, &case) && !is_builtin,
                RoleKey::custom(&case).is_ok(),
                "{case:?}"
            );
        }
        let alphabet = [
            'a',
            ' ',
            '\t',
            '\n',
            '\u{0}',
            '\u{85}',
            '\u{A0}',
            '\u{200B}',
            '\u{202E}',
            '\u{FEFF}',
            '\u{1F600}',
        ];
        let names = strings_over(&alphabet);
        let edges = [59, 60, 61, 499, 500, 501]
            .map(|n| "n".repeat(n))
            .into_iter()
            .flat_map(|text| [format!("  {text}  "), text]);
        for case in names.into_iter().chain(edges) {
            assert_eq!(
                matches_pattern(&role_name_pattern(), &case),
                RoleName::parse(&case).is_ok(),
                "{case:?}"
            );
            assert_eq!(
                matches_pattern(&role_description_pattern(), &case),
                RoleDescription::parse(&case).is_ok(),
                "{case:?}"
            );
        }
    }

    fn strings_over(alphabet: &[char]) -> Vec<String> {
        let mut strings = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..3 {
            layer = layer
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            strings.extend(layer.iter().cloned());
        }
        strings
    }

    /// Whether `text` fits a property's constraints as a validator reads them.
    fn fits(constraints: &Value, text: &str) -> bool {
        let chars = text.chars().count() as u64;
        constraints["pattern"]
            .as_str()
            .is_none_or(|pattern| matches_pattern(pattern, text))
            && constraints["minLength"]
                .as_u64()
                .is_none_or(|min| chars >= min)
            && constraints["maxLength"]
                .as_u64()
                .is_none_or(|max| chars <= max)
    }

    fn constraints_of(schema: &'static str, property: &'static str) -> Value {
        limits()
            .into_iter()
            .find(|(target, _)| *target == Target::Property { schema, property })
            .map(|(_, constraints)| constraints)
            .unwrap_or_else(|| panic!("no limit on {schema}.{property}"))
    }

    /// Strings that match `pattern` (anchored with `^...$`), drawn by
    /// proptest from the pattern itself, and at most `max_chars` long.
    fn matching(pattern: &str, max_chars: usize, cases: u32) -> Vec<String> {
        use proptest::strategy::{Strategy, ValueTree};
        let inner = pattern
            .strip_prefix('^')
            .and_then(|p| p.strip_suffix('$'))
            .expect("an anchored pattern");
        let strategy = proptest::string::string_regex(inner).expect("a pattern proptest reads");
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        (0..cases)
            .map(|_| strategy.new_tree(&mut runner).unwrap().current())
            .filter(|text| text.chars().count() <= max_chars)
            .collect()
    }

    /// That `pattern` is a subset of what the core's `accepts` takes: every
    /// string of up to `max_chars` drawn from it is accepted (more than
    /// `at_least` of them drawn), every one of `matched` matches it and none
    /// of `unmatched` does.
    fn assert_a_subset(
        pattern: &str,
        max_chars: usize,
        at_least: usize,
        accepts: fn(&str) -> bool,
        matched: &[&str],
        unmatched: &[&str],
    ) {
        let drawn = matching(pattern, max_chars, 1_500);
        assert!(drawn.len() > at_least, "{}", drawn.len());
        for text in &drawn {
            assert!(
                accepts(text),
                "{text:?} matches the pattern but the core refuses it"
            );
        }
        for text in matched {
            assert!(matches_pattern(pattern, text), "{text}");
        }
        for text in unmatched {
            assert!(!matches_pattern(pattern, text), "{text}");
        }
    }

    /// The email and cron patterns are subsets of what the server takes: every
    /// string they match is one that the core's parser accepts, and common
    /// forms match them.
    #[test]
    fn the_subset_patterns_only_promise_what_the_core_takes() {
        use tenancy_core::resource::{CRON_MAX_CHARS, Schedule};
        use tenancy_core::value::{EMAIL_MAX_LEN, EmailAddress};
        assert_a_subset(
            &email_pattern(),
            EMAIL_MAX_LEN,
            100,
            |address| EmailAddress::parse(address).is_ok(),
            &[
                "alice@example.com",
                " Bob.Smith+tag@Mail.Example-Corp.co.uk ",
                "o'neil@a1.io",
                "x@localhost.test",
            ],
            &[
                "",
                "alice",
                "a@b",
                "a..b@c.d",
                "a@xn--zz.test",
                "a@-b.test",
                "ä@b.test",
            ],
        );
        assert_a_subset(
            &cron_pattern(),
            CRON_MAX_CHARS,
            500,
            |expression| Schedule::parse(expression, None).is_ok(),
            &[
                "* * * * *",
                "0 9 * * 1-5",
                "*/15 * * * *",
                "0 0 1,15 * 0,6",
                "30 0 9 * * 7",
            ],
            &[
                "",
                "* * * *",
                "60 * * * *",
                "0 0 31 2 *",
                "0 0 * * 5-1",
                "@daily",
            ],
        );
    }

    /// The time zone pattern matches exactly the names that a schedule
    /// takes, and white space or nothing, which the server reads as UTC.
    #[test]
    fn the_time_zone_pattern_is_the_servers_names() {
        use tenancy_core::resource::{Schedule, time_zone_names};
        let pattern = time_zone_pattern();
        let mut zones: Vec<String> = time_zone_names().map(str::to_owned).collect();
        assert!(zones.len() > 400, "{}", zones.len());
        zones.extend(["", "  ", " Europe/Paris ", "Etc/GMT+5"].map(str::to_owned));
        for zone in &zones {
            assert!(matches_pattern(&pattern, zone), "{zone:?}");
            assert!(Schedule::parse("* * * * *", Some(zone)).is_ok(), "{zone:?}");
        }
        for zone in [
            "Mars/Olympus",
            "europe/paris",
            "Europe/Paris/",
            "UTC+1",
            "Etc/GMT 5",
        ] {
            assert!(!matches_pattern(&pattern, zone), "{zone:?}");
            assert!(
                Schedule::parse("* * * * *", Some(zone)).is_err(),
                "{zone:?}"
            );
        }
    }

    #[test]
    fn the_resource_patterns_agree_with_the_core() {
        use tenancy_core::resource::{ConnectionType, Description, ResourceName, Text};
        let alphabet = [
            'a',
            ' ',
            '\t',
            '\n',
            '\r',
            '\u{0}',
            '\u{b}',
            '\u{85}',
            '\u{A0}',
            '\u{200B}',
            '\u{3000}',
            '\u{1F600}',
            '-',
            '.',
        ];
        let mut strings = strings_over(&alphabet);
        for (n, padding) in [
            (199, ""),
            (200, ""),
            (201, ""),
            (200, "  "),
            (4_000, " "),
            (4_001, ""),
            (10_000, ""),
            (10_001, ""),
        ] {
            strings.push(format!("{padding}{}{padding}", "x".repeat(n)));
        }
        strings.extend([
            "x".repeat(64),
            "x".repeat(65),
            " postgres ".to_owned(),
            "a/b".to_owned(),
        ]);
        // (schema, property, the core's parser, whether the document is exact).
        type Check = (&'static str, &'static str, fn(&str) -> bool, bool);
        let checks: [Check; 5] = [
            (
                "AgentRequest",
                "name",
                |t| ResourceName::parse(t).is_ok(),
                true,
            ),
            (
                "ConnectionRequest",
                "type",
                |t| ConnectionType::parse(t).is_ok(),
                true,
            ),
            (
                "MessageRequest",
                "content",
                |t| Text::parse(t).is_ok(),
                false,
            ),
            (
                "AgentRequest",
                "description",
                |t| Description::parse(t).is_ok(),
                false,
            ),
            (
                "InvestigationRequest",
                "question",
                |t| Text::parse(t).is_ok(),
                false,
            ),
        ];
        for (schema, property, core, exact) in checks {
            let constraints = constraints_of(schema, property);
            for case in &strings {
                let (document, server) = (fits(&constraints, case), core(case));
                // `maxLength` counts the white space that the server trims, so a
                // long text may be refused by the document and taken by the
                // server; never the other way round.
                if exact || case.trim().chars().count() == case.chars().count() {
                    assert_eq!(document, server, "{schema}.{property}: {case:?}");
                } else {
                    assert!(!document || server, "{schema}.{property}: {case:?}");
                }
            }
        }
    }

    #[test]
    fn the_token_pattern_takes_exactly_canonical_tokens() {
        let token = tenancy_core::token::SecretToken::from_bytes([0xAB; 32]);
        assert!(matches_pattern(TOKEN_PATTERN, token.expose()));
        let mut non_canonical = token.expose().to_owned();
        non_canonical.pop();
        non_canonical.push('B');
        assert!(tenancy_core::token::SecretToken::parse(&non_canonical).is_err());
        assert!(!matches_pattern(TOKEN_PATTERN, &non_canonical));
        assert!(!matches_pattern(TOKEN_PATTERN, &token.expose()[1..]));
    }

    /// Whether `text` matches a pattern of the document, whole, as a JSON
    /// Schema validator reads it (the patterns are anchored and use only
    /// classes, repeats and groups, which ECMAScript and `regex` read alike).
    fn matches_pattern(pattern: &str, text: &str) -> bool {
        thread_local! {
            static COMPILED: std::cell::RefCell<std::collections::HashMap<String, regex::Regex>> =
                std::cell::RefCell::default();
        }
        COMPILED.with_borrow_mut(|compiled| {
            compiled
                .entry(pattern.to_owned())
                .or_insert_with(|| regex::Regex::new(pattern).unwrap())
                .is_match(text)
        })
    }

    /// poem-openapi's document of the real app, before the passes.
    async fn written_document() -> Value {
        let path =
            std::env::temp_dir().join(format!("tenancy-http-openapi-{}.db", uuid::Uuid::now_v7()));
        let store = tenancy_store::Store::open(tenancy_store::StoreOptions::new(
            format!("sqlite://{}", path.display()),
            tenancy_store::SecretKey::generate("test").unwrap(),
        ))
        .await
        .unwrap();
        let state = crate::AppState::new(
            store,
            tenancy_core::service::Settings::default(),
            std::sync::Arc::new(tenancy_store::FsBlobs::new(path.with_extension("blobs"))),
            crate::ApiConfig::default(),
        );
        let written = crate::service(&state).spec();
        assert_eq!(
            crate::openapi_json(&state),
            finish_json(&written, &state.tenancy.settings().catalog)
        );
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        serde_json::from_str(&written).unwrap()
    }

    /// Every schema object of `value`, wherever it is.
    fn visit(value: &Value, path: &str, seen: &mut dyn FnMut(&str, &Map<String, Value>)) {
        match value {
            Value::Object(object) => {
                seen(path, object);
                for (key, inner) in object {
                    visit(inner, &format!("{path}/{key}"), seen);
                }
            }
            Value::Array(items) => {
                for (index, inner) in items.iter().enumerate() {
                    visit(inner, &format!("{path}/{index}"), seen);
                }
            }
            _ => {}
        }
    }

    #[tokio::test]
    async fn the_real_document_keeps_the_promises_of_the_passes() {
        let written = written_document().await;
        assert!(
            apply_limits(&mut written.clone()).is_empty(),
            "a target of `limits` is gone from the document"
        );
        assert!(
            named_enums(&mut written.clone()).is_empty(),
            "a property of `NAMED_ENUMS` is gone from the document"
        );
        let document = finish(written);
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["servers"][0]["url"], "/");

        let mut ids = std::collections::BTreeSet::new();
        let mut public = std::collections::BTreeSet::new();
        let mut operations = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if !is_method(method) {
                    continue;
                }
                operations += 1;
                let id = operation["operationId"].as_str().unwrap_or_default();
                assert!(!id.is_empty(), "{method} {path} has no operationId");
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
                let security = operation["security"].as_array();
                assert!(security.is_some(), "{method} {path} has no `security`");
                if security.is_some_and(Vec::is_empty) {
                    public.insert(format!("{} {path}", method.to_uppercase()));
                }
                for (status, response) in operation["responses"].as_object().unwrap() {
                    if status == "429" || status == "503" {
                        assert!(
                            response["headers"]["Retry-After"].is_object(),
                            "{method} {path} {status} has no Retry-After"
                        );
                    }
                    if status.starts_with('2') {
                        assert!(
                            response["description"]
                                .as_str()
                                .is_some_and(|d| !d.trim().is_empty()),
                            "{method} {path} {status} has no description"
                        );
                    }
                }
            }
        }
        assert!(operations > 50, "only {operations} operations");
        // Exactly the routes that API.md lets in without a token.
        let expected: std::collections::BTreeSet<String> = [
            "GET /healthz",
            "GET /readyz",
            "POST /v1/auth/signin",
            "POST /v1/auth/signup",
            "POST /v1/auth/verify-email",
            "POST /v1/auth/password-reset",
            "POST /v1/auth/password-reset/confirm",
            "GET /v1/invitations/{token}",
            "GET /v1/plans",
            "GET /v1/roles",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert_eq!(public, expected);

        // 3.1 has no `nullable`: `null` is a type, or a value of an `enum`.
        visit(&document, "", &mut |path, object| {
            assert!(
                !object.contains_key("nullable"),
                "3.0's `nullable` at {path}"
            );
        });
        let schemes = document["components"]["securitySchemes"]
            .as_object()
            .unwrap();
        assert!(schemes.contains_key("session") && schemes.contains_key("service_token"));
    }
}
