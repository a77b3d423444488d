//! Evaluation against resources with their schemas (RFC 7644 §3.4.2.2).

use scimkit_filter::{EvalError, EvalOptions, parse};
use scimkit_schema::{AttributeDef, AttributeType, Registry, Schema, ScimType};
use serde_json::{Map, Value, json};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn user() -> Map<String, Value> {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "Ext-701984",
        "userName": "BJensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "O'Malley-Jensen"},
        "title": "",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "ims": [{"value": "babs@foo.com", "type": "xmpp"}],
        "phoneNumbers": [],
        "x509Certificates": [{"value": "TWFu"}],
        "meta": {"created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z"},
        ENT: {"employeeNumber": "701984", "manager": {"value": "26118915"}}
    })
    .as_object()
    .unwrap()
    .clone()
}

#[track_caller]
fn check(filter: &str) -> Result<bool, EvalError> {
    let registry = Registry::new();
    let users = registry.bind("User").unwrap();
    parse(filter)
        .unwrap_or_else(|e| panic!("{e}"))
        .matches(&user(), &users)
}

#[track_caller]
fn yes(filter: &str) {
    assert_eq!(check(filter), Ok(true), "{filter}");
}

#[track_caller]
fn no(filter: &str) {
    assert_eq!(check(filter), Ok(false), "{filter}");
}

#[track_caller]
fn invalid(filter: &str) -> String {
    let err = check(filter).expect_err(filter);
    assert_eq!(err.scim_type(), ScimType::InvalidFilter, "{filter}");
    assert_eq!(err.to_scim_error().status, 400);
    err.to_string()
}

#[test]
fn strings_follow_case_exact() {
    // userName: caseExact false.
    yes(r#"userName eq "bjensen@EXAMPLE.com""#);
    yes(r#"USERNAME sw "bjen""#);
    yes(r#"userName ew "@Example.COM""#);
    yes(r#"userName co "JENSEN@""#);
    no(r#"userName ne "bjensen@example.com""#);
    // externalId and id: caseExact true.
    yes(r#"externalId eq "Ext-701984""#);
    no(r#"externalId eq "ext-701984""#);
    no(r#"id eq "2819C223-7F76-453A-919D-413861904646""#);
    // Lexicographic ordering, case-insensitively.
    yes(r#"name.familyName gt "o'malley""#);
    yes(r#"name.familyName lt "P""#);
    yes(r#"name.familyName co "O'Malley""#);
}

#[test]
fn multi_valued_any_match_and_implicit_value() {
    yes(r#"emails.value eq "babs@jensen.org""#);
    yes(r#"emails co "jensen.org""#); // compares `value`
    yes(r#"emails.type eq "home""#);
    no(r#"emails.type eq "other""#);
    // Any value that differs.
    yes(r#"emails.type ne "work""#);
    yes(r#"emails[type eq "work" and value co "@example.com"]"#);
    no(r#"emails[type eq "work" and value co "jensen.org"]"#);
    yes(r#"emails[type eq "work" and not (value ew ".org")]"#);
    yes(
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    );
    // Entra ID's form: a sub-attribute after the value filter.
    yes(r#"emails[type eq "work"].value eq "BJENSEN@example.com""#);
    no(r#"emails[type eq "home"].value eq "bjensen@example.com""#);
}

#[test]
fn presence() {
    yes("userName pr");
    no("title pr"); // empty string
    no("phoneNumbers pr"); // empty array
    no("nickName pr"); // absent
    yes("emails pr");
    yes("name pr");
    yes("emails.primary pr");
    no("addresses.country pr");
    yes(&format!("{ENT}:manager.value pr"));
    no(&format!("{ENT}:department pr"));
    yes("employeeNumber pr"); // an extension attribute without its URN
}

#[test]
fn null_comparisons() {
    yes("nickName eq null");
    no("userName eq null");
    yes("userName ne null");
    no("title ne null"); // empty is not present
    assert!(invalid("userName gt null").contains("compares nothing"));
}

#[test]
fn numbers_dates_booleans() {
    yes("active eq true");
    no("active eq false");
    yes("active ne false");
    yes(r#"meta.lastModified gt "2011-05-13T04:42:33Z""#);
    yes(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#);
    yes(r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#); // the same instant
    no(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#);
    yes(r#"meta.lastModified le "2011-05-13T04:42:34Z""#);
    yes(r#"meta.created lt "2011-05-13T04:42:34Z""#);
    // Substring operators on dateTimes compare the text.
    yes(r#"meta.created sw "2010-01""#);
}

#[test]
fn typed_comparison_errors() {
    assert_eq!(
        invalid("active gt true"),
        "`active`: `gt` is not defined for boolean attributes; use eq or ne"
    );
    assert!(invalid(r#"active eq "true""#).contains("compare it with true or false"));
    assert!(invalid(r#"x509Certificates.value lt "TWFu""#).contains("not defined for binary"));
    assert!(invalid(r#"name eq "Barbara""#).contains("name a sub-attribute"));
    assert!(invalid("userName eq 5").contains("compare it with a quoted string"));
    assert!(invalid(r#"meta.lastModified gt "yesterday""#).contains("is not an xsd:dateTime"));
    assert!(invalid(r#"userName[value eq "x"]"#).contains("applies to complex attributes"));
    assert!(invalid(&format!("{ENT} pr")).contains("whole schema"));
    // Binary equality is allowed, and case-sensitive.
    yes(r#"x509Certificates.value eq "TWFu""#);
    no(r#"x509Certificates.value eq "twfu""#);
}

#[test]
fn unknown_attributes_match_nothing_unless_strict() {
    no(r#"shoeSize eq "44""#);
    no("shoeSize pr");
    yes("not (shoeSize pr)");
    no(r#"emails[shoeSize eq "44"]"#);
    let registry = Registry::new();
    let users = registry.bind("User").unwrap();
    for filter in [
        "shoeSize pr",
        r#"emails[shoeSize eq "1"]"#,
        "name.nickname pr",
    ] {
        let err = parse(filter)
            .unwrap()
            .matches_with(&user(), &users, EvalOptions::strict())
            .unwrap_err();
        assert!(
            matches!(err, EvalError::UnknownAttribute { .. }),
            "{filter}: {err}"
        );
        assert_eq!(err.scim_type(), ScimType::InvalidFilter);
    }
}

#[test]
fn urn_paths_and_schemas() {
    yes(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "BJ""#);
    yes(&format!(r#"{ENT}:employeeNumber eq "701984""#));
    yes(&format!(r#"{ENT}:manager.value eq "26118915""#));
    yes(&format!(r#"schemas eq "{ENT}""#));
    yes(r#"schemas eq "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER""#);
    no(r#"schemas eq "urn:example:other""#);
}

#[test]
fn logic_and_rfc_examples() {
    no(r#"title pr or userType eq "Intern""#); // title is empty, userType is Employee
    no(r#"title pr and userType eq "Employee""#);
    yes(r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#);
    no(
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
    );
    yes(r#"userType eq "Employee" and (emails.type eq "work")"#);
    yes(r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#);
    yes(r#"not (not (userName pr))"#);
}

#[test]
fn custom_schema_types() {
    let mut registry = Registry::new();
    let urn = "urn:example:scim:Device";
    registry
        .add_schema(Schema::new(
            urn,
            "Device",
            [
                AttributeDef::new("ports", AttributeType::Integer),
                AttributeDef::new("weight", AttributeType::Decimal),
                AttributeDef::new("serial", AttributeType::String).case_exact(),
                AttributeDef::new("tags", AttributeType::String).multi_valued(),
            ],
        ))
        .unwrap();
    registry
        .add_resource_type(scimkit_schema::ResourceType::new("Device", "/Devices", urn))
        .unwrap();
    let devices = registry.bind("Device").unwrap();
    let device = json!({"ports": 4, "weight": 1.5, "serial": "AbC", "tags": ["Red", "blue"]});
    let device = device.as_object().unwrap();
    let eval = |f: &str| parse(f).unwrap().matches(device, &devices);
    assert_eq!(eval("ports gt 3"), Ok(true));
    assert_eq!(eval("ports eq 4.0"), Ok(true));
    assert_eq!(eval("weight lt 2"), Ok(true));
    assert_eq!(eval("weight ge 1.5e0"), Ok(true));
    assert_eq!(eval(r#"serial eq "abc""#), Ok(false));
    assert_eq!(eval(r#"tags eq "red""#), Ok(true));
    assert!(eval(r#"ports co "4""#).is_err());
    assert!(eval(r#"ports eq "4""#).is_err());
}

#[test]
fn a_single_complex_attribute_with_a_value_compares_its_value() {
    // Entra ID checks a manager reference with `manager eq "<id>"` (its Example 4).
    yes(r#"manager eq "26118915""#);
    yes(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "26118915""#);
    no(r#"manager eq "other""#);
    yes(r#"id eq "2819c223-7f76-453a-919d-413861904646" and manager eq "26118915""#);
    // A complex attribute without a `value` still cannot be compared.
    assert!(invalid(r#"name eq "Barbara""#).contains("name a sub-attribute"));
}

#[test]
fn bare_strings_read_unquoted_words_only_when_asked() {
    let lenient = scimkit_filter::Parser::new().bare_strings(true);
    let registry = Registry::new();
    let users = registry.bind("User").unwrap();
    let matches = |f: &str| {
        lenient
            .parse_filter(f)
            .unwrap()
            .matches(&user(), &users)
            .unwrap()
    };
    // Microsoft's Example 1 and the historical id/manager query, unquoted.
    assert!(matches("externalId eq Ext-701984"));
    assert!(!matches("externalId eq jyoung"));
    assert!(matches(
        r#"id eq 2819c223-7f76-453a-919d-413861904646 and manager eq "26118915""#
    ));
    // Keywords and numbers keep their meaning; the word ends at a bracket or parenthesis.
    assert!(matches("active eq true"));
    assert!(matches("(userName eq BJensen@example.com)"));
    assert!(matches("emails[type eq work]"));
    assert_eq!(
        lenient.parse_filter("x eq 42").unwrap().to_string(),
        "x eq 42"
    );
    assert_eq!(
        lenient.parse_filter("x eq 42abc").unwrap().to_string(),
        r#"x eq "42abc""#
    );
    // The default parser follows RFC 7644: strings are quoted.
    assert!(parse("externalId eq jyoung").is_err());
}
