//! Protocol messages: serde shapes and the `scimType` mapping.

use scimkit_schema::messages::{
    BulkRequest, BulkResponse, BulkResponseOperation, ListResponse, PatchOp, PatchOpKind,
    SearchRequest, SortOrder,
};
use scimkit_schema::{SchemaError, ScimError, ScimType};
use serde_json::{Value, json};

#[test]
fn error_response_shape() {
    let e = ScimError::typed(ScimType::Uniqueness, "userName `bjensen` is taken");
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "409",
            "scimType": "uniqueness",
            "detail": "userName `bjensen` is taken"
        })
    );
    // A numeric status is accepted on input; output is always a string.
    let parsed: ScimError = serde_json::from_value(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": 404}),
    )
    .unwrap();
    assert_eq!(parsed.status, 404);
    assert_eq!(serde_json::to_value(&parsed).unwrap()["status"], "404");
}

#[test]
fn every_scim_type_round_trips_with_its_status() {
    for t in ScimType::ALL {
        let s = serde_json::to_value(t).unwrap();
        assert_eq!(serde_json::from_value::<ScimType>(s).unwrap(), t);
        assert_eq!(t.as_str().parse::<ScimType>().unwrap(), t);
    }
    assert_eq!(ScimType::Uniqueness.status(), 409);
    assert_eq!(ScimType::Sensitive.status(), 403);
    assert_eq!(ScimType::InvalidFilter.status(), 400);
    assert!("bogus".parse::<ScimType>().is_err());
}

#[test]
fn schema_errors_map_to_scim_types() {
    let s = String::new;
    let cases = [
        (
            SchemaError::InvalidSyntax { detail: s() },
            Some(ScimType::InvalidSyntax),
        ),
        (
            SchemaError::UnknownAttribute {
                path: s(),
                schema: s(),
            },
            Some(ScimType::InvalidSyntax),
        ),
        (
            SchemaError::UnknownSchema {
                urn: s(),
                resource_type: s(),
            },
            Some(ScimType::InvalidValue),
        ),
        (
            SchemaError::UnknownResourceType { detail: s() },
            Some(ScimType::InvalidValue),
        ),
        (
            SchemaError::SchemasMismatch { detail: s() },
            Some(ScimType::InvalidValue),
        ),
        (
            SchemaError::WrongType {
                path: s(),
                expected: s(),
                found: s(),
            },
            Some(ScimType::InvalidValue),
        ),
        (
            SchemaError::Required { path: s() },
            Some(ScimType::InvalidValue),
        ),
        (
            SchemaError::MultiplePrimary {
                path: s(),
                count: 2,
            },
            Some(ScimType::InvalidValue),
        ),
        (
            SchemaError::Mutability { path: s() },
            Some(ScimType::Mutability),
        ),
        (
            SchemaError::InvalidPath {
                path: s(),
                detail: s(),
            },
            Some(ScimType::InvalidPath),
        ),
        (
            SchemaError::InvalidSchema {
                schema: s(),
                detail: s(),
            },
            None,
        ),
    ];
    for (err, t) in cases {
        assert_eq!(err.scim_type(), t, "{err:?}");
        let wire = err.to_scim_error();
        assert_eq!(wire.status, if t.is_some() { 400 } else { 500 });
        assert_eq!(wire.scim_type, t);
    }
}

#[test]
fn patch_op_accepts_any_op_casing() {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "add", "value": {"displayName": "x"}},
            {"op": "REMOVE", "path": "members[value eq \"1\"]"}
        ]
    });
    let patch: PatchOp = serde_json::from_value(body).unwrap();
    let ops: Vec<PatchOpKind> = patch.operations.iter().map(|o| o.op).collect();
    assert_eq!(
        ops,
        [PatchOpKind::Replace, PatchOpKind::Add, PatchOpKind::Remove]
    );
    let out = serde_json::to_value(&patch).unwrap();
    assert_eq!(out["Operations"][0]["op"], "replace");
    assert!(out["Operations"][2].get("value").is_none());
    assert!(
        serde_json::from_value::<PatchOp>(json!({"schemas": [], "Operations": [{"op": "move"}]}))
            .is_err()
    );
}

#[test]
fn list_response_always_writes_resources() {
    let empty: ListResponse = ListResponse::new(Vec::new(), 0, 1);
    assert_eq!(
        serde_json::to_value(&empty).unwrap(),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []
        })
    );
    let parsed: ListResponse =
        serde_json::from_value(json!({"schemas": [], "totalResults": 0})).unwrap();
    assert!(parsed.resources.is_empty());
}

#[test]
fn bulk_and_search_round_trip() {
    // RFC 7644 §3.7.2-shaped request.
    let request = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "failOnErrors": 1,
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "qwerty",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Alice"}},
            {"method": "DELETE", "path": "/Users/b7c14771", "version": "W/\"0ee8add0\""}
        ]
    });
    let parsed: BulkRequest = serde_json::from_value(request.clone()).unwrap();
    assert_eq!(parsed.fail_on_errors, Some(1));
    assert_eq!(serde_json::to_value(&parsed).unwrap(), request);

    let mut op = BulkResponseOperation::new("POST", 201);
    op.bulk_id = Some("qwerty".into());
    op.location = Some("https://example.com/v2/Users/92b725cd".into());
    let response = serde_json::to_value(BulkResponse::new(vec![op])).unwrap();
    assert_eq!(response["Operations"][0]["status"], "201");
    let back: BulkResponse = serde_json::from_value(response.clone()).unwrap();
    assert_eq!(serde_json::to_value(back).unwrap(), response);

    let search = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "attributes": ["displayName", "userName"],
        "filter": "displayName sw \"smith\"",
        "sortBy": "userName", "sortOrder": "Descending",
        "startIndex": 1, "count": 10
    });
    let parsed: SearchRequest = serde_json::from_value(search).unwrap();
    assert_eq!(parsed.sort_order, Some(SortOrder::Descending));
    let out = serde_json::to_value(&parsed).unwrap();
    assert_eq!(out["sortOrder"], "descending");
    assert_eq!(
        serde_json::from_value::<SearchRequest>(out).unwrap(),
        parsed
    );
    assert!(
        serde_json::from_value::<SearchRequest>(json!({"schemas": [], "sortOrder": "up"})).is_err()
    );
    let _: Value = serde_json::to_value(SearchRequest::default()).unwrap();
}
