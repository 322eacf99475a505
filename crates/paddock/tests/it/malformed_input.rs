//! Malformed input, every endpoint: driven by the OpenAPI document, each operation
//! that takes a JSON body is sent a body that is not JSON, one that is not sent as
//! JSON, an empty object (its required fields missing), an unknown field, and, for
//! each documented property, a value of the wrong type; each operation with an id in
//! its address is sent one that is not an id. Each answer must be a 422 (415 for the
//! media type) naming the field in our words, with no serde, axum or Rust text. The
//! table is the document itself, so a new endpoint is covered the day it is added.

use crate::support::{Answer, RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp, assert_problem};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Map, Value, json};

/// Words that only the machinery would write.
const MACHINE_WORDS: &[&str] = &[
    "`",
    "invalid type",
    "expected",
    "serde",
    "::",
    "Failed to",
    "UUID parsing",
    "deserialize",
    "line 0",
];

/// One documented operation that the sweep exercises.
struct Operation {
    method: Method,
    /// The path template (`/api/v1/patients/{id}`).
    template: String,
    /// The request body's schema, resolved, if it takes a JSON body.
    body: Option<Value>,
}

impl Operation {
    /// The address with every parameter an id that names nothing.
    fn path(&self) -> String {
        with_params(&self.template, &uuid::Uuid::now_v7().to_string())
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.template)
    }
}

/// `template` with every `{param}` replaced by `value`.
fn with_params(template: &str, value: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                value
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `schema` with a `$ref` followed into the document's components (and an `allOf`
/// of one, how utoipa writes a documented reference).
fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return resolved(doc, &doc["components"]["schemas"][name]);
    }
    if let Some([only]) = schema["allOf"].as_array().map(Vec::as_slice) {
        return resolved(doc, only);
    }
    if let Some(choices) = schema["oneOf"].as_array() {
        // `Option<T>` of a component: the non-null choice.
        if let Some(real) = choices.iter().find(|c| c["type"] != "null") {
            return resolved(doc, real);
        }
    }
    schema
}

/// Every operation of the document under `/api/v1/`.
fn operations(doc: &Value) -> Vec<Operation> {
    let mut found = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let body = operation["requestBody"]["content"]["application/json"]["schema"]
                .as_object()
                .map(|_| {
                    resolved(
                        doc,
                        &operation["requestBody"]["content"]["application/json"]["schema"],
                    )
                    .clone()
                });
            found.push(Operation {
                method,
                template: template.clone(),
                body,
            });
        }
    }
    found
}

/// The type a property's schema documents (`string`, `integer`, ...), and its format.
fn kind_of(doc: &Value, property: &Value) -> (String, Option<String>) {
    let schema = resolved(doc, property);
    let kind = match &schema["type"] {
        Value::String(kind) => kind.clone(),
        // `["string", "null"]`: an optional value.
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("object")
            .to_owned(),
        _ if schema["enum"].is_array() => "string".to_owned(),
        _ if schema["properties"].is_object() => "object".to_owned(),
        _ => "any".to_owned(),
    };
    (kind, schema["format"].as_str().map(str::to_owned))
}

/// A value that is surely not of `kind`/`format`, or `None` when the schema admits any.
fn misfit(kind: &str, format: Option<&str>) -> Option<Value> {
    Some(match (kind, format) {
        ("string", Some("uuid")) => json!("not-an-id"),
        ("string", Some("date-time")) => json!("next tuesday"),
        ("string", Some("date")) => json!("the fifth"),
        ("string", _) => json!(12345),
        ("integer", _) | ("number", _) => json!("many"),
        ("boolean", _) => json!("yes"),
        ("array", _) => json!({"not": "a list"}),
        ("object", _) => json!(7),
        _ => return None,
    })
}

/// Sends `body` (raw bytes) with `content_type` to `operation` as the admin.
async fn send(
    env: &TestApp,
    jwt: &str,
    method: &Method,
    path: &str,
    content_type: &str,
    body: &str,
) -> Answer {
    env.send(
        Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {jwt}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_owned()))
            .unwrap(),
    )
    .await
}

/// Asserts a 422 whose field list names `field` (and only fields), in our words.
#[track_caller]
fn assert_names(answer: &Answer, field: &str, case: &str) {
    assert_problem(
        answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let errors = answer.body["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        errors.iter().any(|e| e["field"] == field),
        "{case}: {field} not named in {}",
        answer.text
    );
    assert_our_words(answer, case);
}

/// Asserts nothing of serde, axum or Rust shows in the answer.
#[track_caller]
fn assert_our_words(answer: &Answer, case: &str) {
    let errors = answer.body["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for error in &errors {
        let message = error["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{case}: {}", answer.text);
        for word in MACHINE_WORDS {
            assert!(
                !message.contains(word),
                "{case}: {word:?} in {}",
                answer.text
            );
        }
    }
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    for word in MACHINE_WORDS {
        assert!(
            !detail.contains(word),
            "{case}: {word:?} in {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn every_json_body_that_does_not_fit_answers_422_naming_the_field() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let jwt = env.token_user(&admin).await.jwt;
    let doc = env.get("/api/v1/openapi.json", &admin).await.body;
    let with_bodies: Vec<Operation> = operations(&doc)
        .into_iter()
        .filter(|o| o.body.is_some())
        .collect();
    assert!(
        with_bodies.len() >= 30,
        "the document lists the API's bodies: {}",
        with_bodies.len()
    );

    let mut properties_tried = 0;
    for operation in &with_bodies {
        let name = operation.name();
        let path = operation.path();
        let method = &operation.method;
        let schema = operation.body.as_ref().expect("filtered");

        let broken = send(&env, &jwt, method, &path, "application/json", "{\"a\": ").await;
        assert_names(&broken, "body", &format!("{name}: not JSON"));

        let listed = send(&env, &jwt, method, &path, "application/json", "[]").await;
        assert_names(&listed, "body", &format!("{name}: a list"));

        let plain = send(&env, &jwt, method, &path, "text/plain", "{}").await;
        assert_problem(
            &plain,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
        assert_our_words(&plain, &format!("{name}: text/plain"));

        let unknown = send(
            &env,
            &jwt,
            method,
            &path,
            "application/json",
            r#"{"_not_a_field": true}"#,
        )
        .await;
        assert_names(&unknown, "_not_a_field", &format!("{name}: unknown field"));

        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !required.is_empty() {
            let empty = send(&env, &jwt, method, &path, "application/json", "{}").await;
            assert_problem(
                &empty,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            );
            let named = empty.error_fields();
            assert!(
                !named.is_empty() && named.iter().all(|f| required.contains(&f.as_str())),
                "{name}: an empty body names a required field ({required:?}): {}",
                empty.text
            );
            assert_our_words(&empty, &format!("{name}: empty"));
        }

        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (property, property_schema) in &properties {
            let (kind, format) = kind_of(&doc, property_schema);
            let Some(value) = misfit(&kind, format.as_deref()) else {
                continue;
            };
            let mut body = Map::new();
            body.insert(property.clone(), value.clone());
            let answer = send(
                &env,
                &jwt,
                method,
                &path,
                "application/json",
                &Value::Object(body).to_string(),
            )
            .await;
            assert_names(
                &answer,
                property,
                &format!("{name}: {property} ({kind}) = {value}"),
            );
            properties_tried += 1;
        }
    }
    assert!(
        properties_tried >= 100,
        "every property of every body: {properties_tried}"
    );
}

#[tokio::test]
async fn every_id_in_an_api_address_that_is_not_an_id_answers_422_naming_it() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let jwt = env.token_user(&admin).await.jwt;
    let doc = env.get("/api/v1/openapi.json", &admin).await.body;
    let with_ids: Vec<Operation> = operations(&doc)
        .into_iter()
        .filter(|o| o.template.contains('{'))
        .collect();
    assert!(with_ids.len() >= 20, "{}", with_ids.len());
    for operation in &with_ids {
        let name = operation.name();
        let param = operation
            .template
            .split('{')
            .nth(1)
            .and_then(|rest| rest.split('}').next())
            .expect("a parameter");
        let path = with_params(&operation.template, "not-an-id");
        let body = if operation.body.is_some() { "{}" } else { "" };
        let answer = send(
            &env,
            &jwt,
            &operation.method,
            &path,
            "application/json",
            body,
        )
        .await;
        assert_names(&answer, param, &format!("{name} with {path}"));
    }
}
