//! The OpenAPI 3.1 document, built from the operation table in
//! [`super::table`]: paths, methods, parameters, request bodies and
//! answers, with the JSON Schemas of the types the handlers take and give
//! (generated from the Rust types with `schemars`).

use super::table::{Answer, table};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// The document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    let error = generator.subschema_for::<super::ErrorBody>();
    let mut paths: Map<String, Value> = Map::new();
    for entry in table() {
        let op = entry.op;
        let mut parameters: Vec<Value> = op
            .path_params
            .iter()
            .map(|(name, description)| {
                json!({
                    "name": name, "in": "path", "required": true,
                    "description": description, "schema": { "type": "string" }
                })
            })
            .collect();
        parameters.extend(op.query.iter().map(|q| {
            json!({
                "name": q.name, "in": "query", "required": false,
                "description": q.description, "schema": { "type": q.kind }
            })
        }));
        let mut responses = Map::new();
        match op.answer {
            Answer::Json(status, schema) => {
                responses.insert(
                    status.to_string(),
                    json!({
                        "description": "Success.",
                        "content": { "application/json": { "schema": schema(&mut generator) } }
                    }),
                );
            }
            Answer::Text(media_type) => {
                responses.insert(
                    "200".into(),
                    json!({
                        "description": "Text.",
                        "content": { media_type: { "schema": { "type": "string" } } }
                    }),
                );
            }
            Answer::EventStream(description) => {
                responses.insert(
                    "200".into(),
                    json!({
                        "description": description,
                        "content": { "text/event-stream": { "schema": { "type": "string" } } }
                    }),
                );
            }
        }
        responses.insert(
            "default".into(),
            json!({
                "description": "An error: a stable `code` (not_found, invalid_request, invalid_pipeline, conflict, unauthorized, forbidden, wrong_host, unavailable, internal), a message, and the field at fault.",
                "content": { "application/json": { "schema": error.clone() } }
            }),
        );
        let mut operation = json!({
            "operationId": op.id,
            "summary": op.summary,
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(body) = op.body {
            operation["requestBody"] = json!({
                "required": !matches!(op.id, "StartPipelineExecution" | "StopPipelineExecution" | "RetryStageExecution" | "PostSourceHook"),
                "content": { "application/json": { "schema": body(&mut generator) } }
            });
        }
        if let Some(role) = op.role {
            operation["security"] = json!([{ "bearer": [] }]);
            operation["x-sluice-role"] = json!(role.as_str());
        }
        let item = paths
            .entry(op.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        item[op.method] = operation;
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Sluice",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Pipelines, executions, approvals, transitions and logs of a Sluice server. Every call but the health check and this document needs `Authorization: Bearer TOKEN`: the state directory's `api-token` (role admin) or a named token (`sluice token create NAME --role read|operate|admin`); `x-sluice-role` says which role each operation needs. Event streams also take the token as `?access_token=`. Requests naming a host the server does not answer to are refused."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves_and_every_operation_is_documented() {
        let doc = document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(schemas.contains_key(name), "unresolved reference {name}");
        }
        let mut count = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                count += 1;
                assert!(
                    op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                    "{method} {path}"
                );
                for name in path.split('{').skip(1).map(|p| &p[..p.find('}').unwrap()]) {
                    assert!(
                        op["parameters"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|p| p["name"] == name),
                        "{method} {path} does not document `{name}`"
                    );
                }
            }
        }
        assert_eq!(count, table().len());
        assert!(schemas.contains_key("Execution") && schemas.contains_key("PipelineState"));
    }
}
