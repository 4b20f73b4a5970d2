//! Smithy RPC v2 CBOR (`smithy.protocols#rpcv2Cbor`), the protocol newer
//! SDKs prefer: `POST /service/CodePipeline_20150709/operation/<Operation>`
//! with `Smithy-Protocol: rpc-v2-cbor`, the input a CBOR map (an empty
//! body is an empty one), answers `application/cbor` with the same
//! `Smithy-Protocol`, errors a map of `__type` (the error's absolute shape
//! id) and `message` with the same HTTP status as JSON 1.1.
//!
//! The operations take and give JSON values; this module converts. The
//! two differ in timestamps: JSON 1.1 writes them as epoch seconds, plain
//! numbers, while CBOR tags them (tag 1). An input's tag is dropped; an
//! output's members the model declares as timestamps
//! ([`TIMESTAMP_MEMBERS`]) are tagged.

use super::{AwsError, Invocation, TARGET_PREFIX};
use crate::api::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use ciborium::Value as Cbor;
use serde_json::{Map, Number, Value};

/// The route the protocol's requests come to.
pub const ROUTE: &str = "/service/{service}/operation/{operation}";

/// `Smithy-Protocol` of requests and answers.
const PROTOCOL: &str = "rpc-v2-cbor";

/// The content type of bodies.
const CBOR: &str = "application/cbor";

/// The namespace of CodePipeline's shapes: errors are named by absolute
/// shape id in it. Errors the model does not declare (a bad signature, a
/// role too low) are named in it too: clients read what follows `#`.
const NAMESPACE: &str = "com.amazonaws.codepipeline";

/// The service's absolute shape id with `#` as `.`, which the protocol
/// says services should take in place of its name.
const SERVICE_ID: &str = "com.amazonaws.codepipeline.CodePipeline_20150709";

/// The tag of epoch-based date/time (RFC 8949, 3.4.2).
const EPOCH: u64 = 1;

/// Every member name that targets a timestamp in the 2015-07-09 model
/// (botocore's `codepipeline/2015-07-09/service-2.json`: the members whose
/// shape is `LastChangedAt`, `Time`, `Timestamp` or `WebhookLastTriggered`).
/// None of these names belongs to a member of another type, and no list or
/// map holds timestamps, so a number under one of these keys is a
/// timestamp wherever it is.
pub const TIMESTAMP_MEMBERS: &[&str] = &[
    "approvedAt",
    "created",
    "endTime",
    "lastChangedAt",
    "lastStatusChange",
    "lastTriggered",
    "lastUpdateTime",
    "pollingDisabledAt",
    "startTime",
    "updated",
];

/// The operations with no output in the model: the protocol answers them
/// with no body.
pub const NO_OUTPUT: &[&str] = &[
    "DeleteCustomActionType",
    "DeletePipeline",
    "DisableStageTransition",
    "EnableStageTransition",
    "OverrideStageCondition",
    "PutJobFailureResult",
    "PutJobSuccessResult",
    "PutThirdPartyJobFailureResult",
    "PutThirdPartyJobSuccessResult",
    "UpdateActionType",
];

/// `POST /service/CodePipeline_20150709/operation/<Operation>`: one
/// CodePipeline call.
pub async fn rpc_v2_cbor(State(state): State<AppState>, request: Request) -> Response {
    let operation = operation_of(request.uri().path())
        .unwrap_or_default()
        .to_string();
    match super::call(&state, request, decode).await {
        Ok(_) if NO_OUTPUT.contains(&operation.as_str()) => answer(StatusCode::OK, None),
        Ok(output) => answer(StatusCode::OK, Some(encode(&output))),
        Err(error) => answer(error.status, Some(error_body(&error))),
    }
}

/// The operation the path names and the body's input, from a request this
/// protocol claims.
fn decode(parts: &Parts, body: &[u8]) -> Result<Invocation, AwsError> {
    claimed(parts)?;
    let operation = operation_of(parts.uri.path())?.to_string();
    let input = input_of(body)?;
    Ok(Invocation { operation, input })
}

/// A request of this protocol says so in `Smithy-Protocol` and carries no
/// `X-Amz-Target` (the protocol requires servers to refuse one that does).
fn claimed(parts: &Parts) -> Result<(), AwsError> {
    let protocol = parts
        .headers
        .get("smithy-protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if protocol != PROTOCOL {
        return Err(AwsError::new(
            "SerializationException",
            format!(
                "requests to /service/ must carry `Smithy-Protocol: {PROTOCOL}`, not `{}`",
                crate::text::line(protocol)
            ),
        ));
    }
    if ["x-amz-target", "x-amzn-target"]
        .iter()
        .any(|name| parts.headers.contains_key(*name))
    {
        return Err(AwsError::new(
            "SerializationException",
            "an RPC v2 CBOR request must not carry X-Amz-Target",
        ));
    }
    Ok(())
}

/// The operation in `/service/<service>/operation/<operation>`, when the
/// service is CodePipeline 2015-07-09.
fn operation_of(path: &str) -> Result<&str, AwsError> {
    let (service, operation) = path
        .strip_prefix("/service/")
        .and_then(|rest| rest.split_once("/operation/"))
        .unwrap_or(("", ""));
    if service != TARGET_PREFIX && service != SERVICE_ID {
        return Err(AwsError::new(
            "UnknownOperationException",
            format!(
                "the path must be /service/{TARGET_PREFIX}/operation/<Operation>, not `{}`",
                crate::text::line(path)
            ),
        ));
    }
    Ok(operation)
}

/// The input: one CBOR map, or nothing for an empty one.
pub fn input_of(body: &[u8]) -> Result<Value, AwsError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut rest = body;
    let value: Cbor = ciborium::from_reader(&mut rest).map_err(|e| malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(malformed(format!(
            "{} bytes follow the input's map",
            rest.len()
        )));
    }
    match to_json(value)? {
        input @ Value::Object(_) => Ok(input),
        _ => Err(malformed("the input must be a CBOR map")),
    }
}

/// A body that is not the CBOR the protocol takes.
fn malformed(message: impl std::fmt::Display) -> AwsError {
    AwsError::new(
        "SerializationException",
        format!("the body is not an RPC v2 CBOR input: {message}"),
    )
}

/// A CBOR value as the operations take it: a timestamp (tag 1) is its
/// epoch seconds; `undefined` is null. Byte strings, other tags and
/// numbers JSON cannot hold are refused: the model has no blobs, big
/// numbers or decimals.
fn to_json(value: Cbor) -> Result<Value, AwsError> {
    Ok(match value {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Text(s) => Value::String(s),
        Cbor::Integer(i) => integer(i128::from(i))?,
        Cbor::Float(f) => Value::Number(
            Number::from_f64(f).ok_or_else(|| malformed(format!("{f} is not a number")))?,
        ),
        Cbor::Tag(EPOCH, inner) => match *inner {
            number @ (Cbor::Integer(_) | Cbor::Float(_)) => to_json(number)?,
            _ => return Err(malformed("a timestamp (tag 1) must be a number")),
        },
        Cbor::Tag(tag, _) => return Err(malformed(format!("tag {tag} is not in the model"))),
        Cbor::Bytes(_) => return Err(malformed("the model has no byte strings (blobs)")),
        Cbor::Array(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Cbor::Map(pairs) => {
            let mut map = Map::new();
            for (key, value) in pairs {
                let Cbor::Text(key) = key else {
                    return Err(malformed("a map's keys must be text"));
                };
                map.insert(key, to_json(value)?);
            }
            Value::Object(map)
        }
        _ => return Err(malformed("a CBOR value the model has no shape for")),
    })
}

/// A CBOR integer as JSON holds it (64 bits, signed or not).
fn integer(i: i128) -> Result<Value, AwsError> {
    if let Ok(signed) = i64::try_from(i) {
        Ok(Value::from(signed))
    } else if let Ok(unsigned) = u64::try_from(i) {
        Ok(Value::from(unsigned))
    } else {
        Err(malformed(format!("{i} does not fit in 64 bits")))
    }
}

/// An output as CBOR: the members [`TIMESTAMP_MEMBERS`] names tagged as
/// timestamps, null members left out (the protocol omits them).
pub fn encode(output: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing to a Vec does not fail, nor does serialising a `Cbor`.
    let _ = ciborium::into_writer(&to_cbor(output), &mut bytes);
    bytes
}

/// A JSON value as CBOR, members that are timestamps tagged.
fn to_cbor(value: &Value) -> Cbor {
    match value {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Number(n) => number(n),
        Value::String(s) => Cbor::Text(s.clone()),
        Value::Array(items) => Cbor::Array(items.iter().map(to_cbor).collect()),
        Value::Object(map) => Cbor::Map(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let v = match v {
                        Value::Number(n) if TIMESTAMP_MEMBERS.contains(&k.as_str()) => timestamp(n),
                        v => to_cbor(v),
                    };
                    (Cbor::Text(k.clone()), v)
                })
                .collect(),
        ),
    }
}

/// A JSON number as the smallest CBOR number that holds it.
fn number(n: &Number) -> Cbor {
    if let Some(i) = n.as_i64() {
        Cbor::Integer(i.into())
    } else if let Some(u) = n.as_u64() {
        Cbor::Integer(u.into())
    } else {
        Cbor::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Epoch seconds as a timestamp: tag 1 over whole seconds as an integer,
/// else a float (never half precision: seconds since 1970 do not fit one).
fn timestamp(seconds: &Number) -> Cbor {
    let value = match seconds.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Cbor::Integer((f as i64).into()),
        _ => number(seconds),
    };
    Cbor::Tag(EPOCH, Box::new(value))
}

/// An error's body: `__type` its absolute shape id, and `message`.
fn error_body(error: &AwsError) -> Vec<u8> {
    encode(&serde_json::json!({
        "__type": format!("{NAMESPACE}#{}", error.code),
        "message": error.message,
    }))
}

/// An answer with `Smithy-Protocol` and a request id; a body's content
/// type is CBOR's.
fn answer(status: StatusCode, body: Option<Vec<u8>>) -> Response {
    let has_body = body.is_some();
    let mut response = Response::new(Body::from(body.unwrap_or_default()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("smithy-protocol", HeaderValue::from_static(PROTOCOL));
    if has_body {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CBOR));
    }
    if let Some(id) = super::request_id() {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decoded(bytes: &[u8]) -> Cbor {
        ciborium::from_reader(bytes).unwrap()
    }

    fn written(value: &Cbor) -> Vec<u8> {
        let mut bytes = Vec::new();
        ciborium::into_writer(value, &mut bytes).unwrap();
        bytes
    }

    fn member<'a>(map: &'a Cbor, name: &str) -> &'a Cbor {
        let Cbor::Map(pairs) = map else {
            panic!("not a map: {map:?}")
        };
        pairs
            .iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {name} in {map:?}"))
    }

    #[test]
    fn the_timestamp_members_are_the_models() {
        // Members the model's shapes declare as timestamps.
        for (shape, name) in [
            ("PipelineExecutionSummary", "startTime"),
            ("PipelineExecutionSummary", "lastUpdateTime"),
            ("PipelineSummary", "created"),
            ("PipelineSummary", "updated"),
            ("TransitionState", "lastChangedAt"),
            ("ActionExecution", "lastStatusChange"),
            ("PipelineMetadata", "pollingDisabledAt"),
            ("ListWebhookItem", "lastTriggered"),
            ("PutApprovalResultOutput", "approvedAt"),
            ("DeployTargetEvent", "endTime"),
        ] {
            assert!(TIMESTAMP_MEMBERS.contains(&name), "{shape}.{name}");
        }
        // Members near them that are not.
        for name in [
            "status",
            "pipelineExecutionId",
            "name",
            "version",
            "lastUpdatedAt",
        ] {
            assert!(!TIMESTAMP_MEMBERS.contains(&name), "{name}");
        }
        assert!(TIMESTAMP_MEMBERS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn output_timestamps_are_tag_1_and_other_numbers_are_not() {
        let output = json!({
            "pipelineExecutionSummaries": [{
                "pipelineExecutionId": "e1",
                "startTime": 1712345678.125,
                "lastUpdateTime": 1712345679.0,
            }],
            "pipeline": {"version": 3, "created": 1712345600.5},
        });
        let cbor = decoded(&encode(&output));
        let Cbor::Array(summaries) = member(&cbor, "pipelineExecutionSummaries") else {
            panic!("{cbor:?}")
        };
        assert_eq!(
            member(&summaries[0], "startTime"),
            &Cbor::Tag(1, Box::new(Cbor::Float(1712345678.125)))
        );
        // Whole seconds go as an integer.
        assert_eq!(
            member(&summaries[0], "lastUpdateTime"),
            &Cbor::Tag(1, Box::new(Cbor::Integer(1712345679.into())))
        );
        let pipeline = member(&cbor, "pipeline");
        assert_eq!(member(pipeline, "version"), &Cbor::Integer(3.into()));
        assert_eq!(
            member(pipeline, "created"),
            &Cbor::Tag(1, Box::new(Cbor::Float(1712345600.5)))
        );
        // A timestamp's float is a double: ms resolution needs one.
        let bytes = encode(&json!({"startTime": 1712345678.125}));
        assert!(
            bytes.windows(2).any(|w| w == [0xc1, 0xfb]),
            "tag 1 then a double: {bytes:02x?}"
        );
    }

    #[test]
    fn a_string_under_a_timestamps_name_is_left_alone() {
        // A configuration map may have a key `created`; its values are text.
        let cbor = decoded(&encode(&json!({"configuration": {"created": "yes"}})));
        assert_eq!(
            member(member(&cbor, "configuration"), "created"),
            &Cbor::Text("yes".into())
        );
    }

    #[test]
    fn null_members_are_left_out() {
        let cbor = decoded(&encode(&json!({"a": 1, "nextToken": null})));
        let Cbor::Map(pairs) = &cbor else {
            panic!("{cbor:?}")
        };
        assert_eq!(pairs.len(), 1, "{cbor:?}");
    }

    #[test]
    fn input_round_trips_and_its_timestamps_become_seconds() {
        let input = Cbor::Map(vec![
            (Cbor::Text("name".into()), Cbor::Text("relay".into())),
            (Cbor::Text("maxResults".into()), Cbor::Integer(5.into())),
            (
                Cbor::Text("variables".into()),
                Cbor::Array(vec![Cbor::Map(vec![
                    (Cbor::Text("name".into()), Cbor::Text("Who".into())),
                    (Cbor::Text("value".into()), Cbor::Text("boto3".into())),
                ])]),
            ),
            (
                Cbor::Text("succeededInStage".into()),
                Cbor::Map(vec![(Cbor::Text("stageName".into()), Cbor::Null)]),
            ),
            (
                Cbor::Text("startTime".into()),
                Cbor::Tag(1, Box::new(Cbor::Float(1712345678.5))),
            ),
            (
                Cbor::Text("endTime".into()),
                Cbor::Tag(1, Box::new(Cbor::Integer(1712345679.into()))),
            ),
            (Cbor::Text("flag".into()), Cbor::Bool(true)),
        ]);
        let json = input_of(&written(&input)).unwrap();
        assert_eq!(
            json,
            json!({
                "name": "relay",
                "maxResults": 5,
                "variables": [{"name": "Who", "value": "boto3"}],
                "succeededInStage": {"stageName": null},
                "startTime": 1712345678.5,
                "endTime": 1712345679,
                "flag": true,
            })
        );
        // And back: the same map, timestamps tagged again, nulls left out.
        let again = decoded(&encode(&json));
        assert_eq!(member(&again, "startTime"), member(&input, "startTime"));
        assert_eq!(member(&again, "endTime"), member(&input, "endTime"));
        assert_eq!(member(&again, "variables"), member(&input, "variables"));
        assert_eq!(member(&again, "succeededInStage"), &Cbor::Map(Vec::new()));
        assert_eq!(input_of(&encode(&json)).unwrap()["name"], "relay");
    }

    #[test]
    fn an_empty_body_is_an_empty_input() {
        assert_eq!(input_of(b"").unwrap(), json!({}));
        // The empty map botocore sends for an input with no members set.
        assert_eq!(input_of(&[0xa0]).unwrap(), json!({}));
    }

    #[test]
    fn malformed_inputs_are_serialization_errors() {
        for (what, bytes) in [
            ("not a map", written(&Cbor::Array(vec![]))),
            ("truncated", vec![0xa1, 0x64, b'n', b'a']),
            ("trailing bytes", vec![0xa0, 0xa0]),
            (
                "a byte string",
                written(&Cbor::Map(vec![(
                    Cbor::Text("b".into()),
                    Cbor::Bytes(vec![1]),
                )])),
            ),
            (
                "a key that is not text",
                written(&Cbor::Map(vec![(Cbor::Integer(1.into()), Cbor::Null)])),
            ),
            (
                "tag 1 over text",
                written(&Cbor::Map(vec![(
                    Cbor::Text("t".into()),
                    Cbor::Tag(1, Box::new(Cbor::Text("now".into()))),
                )])),
            ),
            (
                "a date-time string (tag 0)",
                written(&Cbor::Map(vec![(
                    Cbor::Text("t".into()),
                    Cbor::Tag(0, Box::new(Cbor::Text("2024-04-05T00:00:00Z".into()))),
                )])),
            ),
        ] {
            let error = input_of(&bytes).expect_err(what);
            assert_eq!(error.code, "SerializationException", "{what}");
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{what}");
        }
    }

    #[test]
    fn an_error_body_names_the_absolute_shape_id() {
        let error = AwsError::new("PipelineNotFoundException", "no pipeline `nope`");
        let cbor = decoded(&error_body(&error));
        assert_eq!(
            member(&cbor, "__type"),
            &Cbor::Text("com.amazonaws.codepipeline#PipelineNotFoundException".into())
        );
        assert_eq!(
            member(&cbor, "message"),
            &Cbor::Text("no pipeline `nope`".into())
        );
        let Cbor::Map(pairs) = &cbor else {
            panic!("{cbor:?}")
        };
        assert_eq!(pairs.len(), 2);
    }

    #[test]
    fn answers_carry_the_protocol_and_a_body_its_content_type() {
        let with_body = answer(StatusCode::BAD_REQUEST, Some(vec![0xa0]));
        assert_eq!(with_body.status(), StatusCode::BAD_REQUEST);
        assert_eq!(with_body.headers()["smithy-protocol"], "rpc-v2-cbor");
        assert_eq!(
            with_body.headers()[header::CONTENT_TYPE],
            "application/cbor"
        );
        let without = answer(StatusCode::OK, None);
        assert_eq!(without.headers()["smithy-protocol"], "rpc-v2-cbor");
        assert!(!without.headers().contains_key(header::CONTENT_TYPE));
    }

    #[test]
    fn the_path_names_the_operation_of_this_service_only() {
        assert_eq!(
            operation_of("/service/CodePipeline_20150709/operation/ListPipelines").unwrap(),
            "ListPipelines"
        );
        assert_eq!(
            operation_of(
                "/service/com.amazonaws.codepipeline.CodePipeline_20150709/operation/GetPipeline"
            )
            .unwrap(),
            "GetPipeline"
        );
        let other = operation_of("/service/DynamoDB_20120810/operation/ListTables").unwrap_err();
        assert_eq!(other.code, "UnknownOperationException");
    }

    #[test]
    fn a_request_must_say_its_protocol_and_carry_no_target() {
        let parts = |headers: &[(&str, &str)]| {
            let mut request = axum::http::Request::post("/service/x/operation/y");
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            request.body(()).unwrap().into_parts().0
        };
        assert!(claimed(&parts(&[("Smithy-Protocol", "rpc-v2-cbor")])).is_ok());
        assert!(claimed(&parts(&[])).is_err());
        assert!(claimed(&parts(&[("Smithy-Protocol", "rpc-v2-json")])).is_err());
        let both = claimed(&parts(&[
            ("Smithy-Protocol", "rpc-v2-cbor"),
            ("X-Amz-Target", "CodePipeline_20150709.ListPipelines"),
        ]))
        .unwrap_err();
        assert_eq!(both.code, "SerializationException");
    }
}
