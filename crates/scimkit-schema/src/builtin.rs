//! The built-in schemas of RFC 7643: User (§4.1), Group (§4.2), Enterprise User (§4.3), and
//! the ServiceProviderConfig (§5), ResourceType (§6) and Schema (§7) schemas, as listed in
//! §8.7. The common attributes `id`, `externalId` and `meta` (§3.1) are in
//! [`common_attributes`]; RFC 7643 does not list them in schema representations.
//!
//! Where §8.7 disagrees with the prose of §4 (errata), the definitions here follow the
//! choice documented on the item; `docs/schemas.md` lists every difference.

use crate::attribute::{AttributeDef, AttributeType as T, Mutability, Returned, Uniqueness};
use crate::messages::SERVICE_PROVIDER_CONFIG_URN;
use crate::schema::{RESOURCE_TYPE_SCHEMA, ResourceType, SCHEMA_SCHEMA, Schema};

/// `urn:ietf:params:scim:schemas:core:2.0:User`
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// `urn:ietf:params:scim:schemas:core:2.0:Group`
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn string(name: &str) -> AttributeDef {
    AttributeDef::new(name, T::String)
}

fn boolean(name: &str) -> AttributeDef {
    AttributeDef::new(name, T::Boolean)
}

fn reference(name: &str, types: &[&str]) -> AttributeDef {
    AttributeDef::new(name, T::Reference).reference_types(types.iter().copied())
}

fn complex(name: &str, subs: impl IntoIterator<Item = AttributeDef>) -> AttributeDef {
    AttributeDef::new(name, T::Complex).sub_attributes(subs)
}

fn read_only(attr: AttributeDef) -> AttributeDef {
    attr.mutability(Mutability::ReadOnly)
}

/// The sub-attributes shared by the multi-valued attributes of RFC 7643 §2.4: `value`,
/// `display`, `type` (with the given canonical values) and `primary`.
fn multi_valued(
    name: &str,
    value: AttributeDef,
    types: &[&str],
    description: &str,
) -> AttributeDef {
    let mut subs = vec![
        value,
        string("display").describe("A human-readable name, primarily used for display purposes."),
        string("type").describe("A label indicating the value's function."),
        boolean("primary")
            .describe("Whether this value is the preferred one; at most one value may be primary."),
    ];
    if !types.is_empty() {
        subs[2] = subs[2].clone().canonical_values(types.iter().copied());
    }
    complex(name, subs).multi_valued().describe(description)
}

/// `id`, `externalId` and `meta` (RFC 7643 §3.1), which every resource has besides its
/// schemas' attributes.
pub fn common_attributes() -> Vec<AttributeDef> {
    vec![
        string("id")
            .describe("The service provider's unique, stable identifier of the resource.")
            .case_exact()
            .mutability(Mutability::ReadOnly)
            .returned(Returned::Always)
            .uniqueness(Uniqueness::Server),
        string("externalId")
            .describe("The provisioning client's identifier of the resource.")
            .case_exact(),
        read_only(complex(
            "meta",
            [
                read_only(string("resourceType").case_exact())
                    .describe("The name of the resource type."),
                read_only(AttributeDef::new("created", T::DateTime))
                    .describe("When the resource was added."),
                read_only(AttributeDef::new("lastModified", T::DateTime))
                    .describe("When the resource last changed."),
                read_only(reference("location", &["uri"]).case_exact())
                    .describe("The URI of the resource."),
                read_only(string("version").case_exact())
                    .describe("The resource's version, its ETag."),
            ],
        ))
        .describe("Resource metadata."),
    ]
}

/// The core User schema (RFC 7643 §4.1, §8.7.1).
pub fn user() -> Schema {
    let name_part = |n: &str, d: &str| string(n).describe(d);
    Schema::new(
        USER,
        "User",
        [
            string("userName")
                .describe("Unique identifier for the user, typically used to sign in; unique per service provider.")
                .required()
                .uniqueness(Uniqueness::Server),
            complex(
                "name",
                [
                    name_part("formatted", "The full name, formatted for display."),
                    name_part("familyName", "The family name (last name in most Western languages)."),
                    name_part("givenName", "The given name (first name in most Western languages)."),
                    name_part("middleName", "The middle name(s)."),
                    name_part("honorificPrefix", "The honorific prefix(es), e.g. 'Ms.'."),
                    name_part("honorificSuffix", "The honorific suffix(es), e.g. 'III'."),
                ],
            )
            .describe("The components of the user's name."),
            string("displayName").describe("The name of the user, suitable for display to end-users."),
            string("nickName").describe("The casual way to address the user."),
            reference("profileUrl", &["external"]).describe("A URI of the user's online profile."),
            string("title").describe("The user's title, such as 'Vice President'."),
            string("userType").describe("The relationship between the organization and the user, e.g. 'Employee'."),
            string("preferredLanguage").describe("The user's preferred written or spoken language (RFC 7231 Accept-Language format)."),
            string("locale").describe("The user's default location for localization (e.g. 'en-US')."),
            string("timezone").describe("The user's time zone in IANA Time Zone database format (e.g. 'America/Los_Angeles')."),
            boolean("active").describe("The user's administrative status."),
            string("password")
                .describe("The user's cleartext password, used to set or compare it; never returned.")
                .mutability(Mutability::WriteOnly)
                .returned(Returned::Never),
            multi_valued(
                "emails",
                string("value").describe("The email address, canonicalized per RFC 5321."),
                &["work", "home", "other"],
                "Email addresses for the user.",
            ),
            multi_valued(
                "phoneNumbers",
                string("value").describe("The phone number, canonicalized per RFC 3966 (e.g. 'tel:+1-201-555-0123')."),
                &["work", "home", "mobile", "fax", "pager", "other"],
                "Phone numbers for the user.",
            ),
            multi_valued(
                "ims",
                string("value").describe("The instant messaging address."),
                &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo", "other"],
                "Instant messaging addresses for the user.",
            ),
            multi_valued(
                "photos",
                reference("value", &["external"]).describe("The URL of a photo of the user."),
                &["photo", "thumbnail"],
                "URLs of photos of the user.",
            ),
            complex(
                "addresses",
                [
                    string("formatted").describe("The full mailing address, formatted for display."),
                    string("streetAddress").describe("The full street address component."),
                    string("locality").describe("The city or locality component."),
                    string("region").describe("The state or region component."),
                    string("postalCode").describe("The zip code or postal code component."),
                    string("country").describe("The country name component (ISO 3166-1 alpha-2 code)."),
                    string("type")
                        .describe("A label indicating the address's function.")
                        .canonical_values(["work", "home", "other"]),
                    boolean("primary").describe("Whether this is the preferred mailing address."),
                ],
            )
            .multi_valued()
            .describe("The user's physical mailing addresses."),
            read_only(complex(
                "groups",
                [
                    read_only(string("value")).describe("The identifier of the group."),
                    read_only(reference("$ref", &["User", "Group"])).describe("The URI of the group."),
                    read_only(string("display")).describe("The group's display name."),
                    read_only(string("type").canonical_values(["direct", "indirect"]))
                        .describe("How the membership came to be: 'direct' or 'indirect' (through a nested group)."),
                ],
            ))
            .multi_valued()
            .describe("The groups the user belongs to, directly or through nested groups; derived, read-only."),
            multi_valued(
                "entitlements",
                string("value").describe("The value of an entitlement."),
                &[],
                "Entitlements of the user.",
            ),
            multi_valued(
                "roles",
                string("value").describe("The value of a role."),
                &[],
                "Roles of the user.",
            ),
            multi_valued(
                "x509Certificates",
                AttributeDef::new("value", T::Binary).describe("The DER-encoded X.509 certificate, base64-encoded."),
                &[],
                "X.509 certificates issued to the user.",
            ),
        ],
    )
    .describe("User Account")
}

/// The core Group schema (RFC 7643 §4.2, §8.7.1).
pub fn group() -> Schema {
    let immutable = |a: AttributeDef| a.mutability(Mutability::Immutable);
    Schema::new(
        GROUP,
        "Group",
        [
            string("displayName")
                .describe("A human-readable name for the group.")
                .required(),
            complex(
                "members",
                [
                    immutable(string("value")).describe("The identifier of the member."),
                    immutable(reference("$ref", &["User", "Group"]))
                        .describe("The URI of the member."),
                    immutable(string("type").canonical_values(["User", "Group"]))
                        .describe("The type of the member: 'User' or 'Group'."),
                    immutable(string("display")).describe("The member's display name."),
                ],
            )
            .multi_valued()
            .describe("The members of the group."),
        ],
    )
    .describe("Group")
}

/// The Enterprise User extension (RFC 7643 §4.3, §8.7.1).
pub fn enterprise_user() -> Schema {
    Schema::new(
        ENTERPRISE_USER,
        "EnterpriseUser",
        [
            string("employeeNumber")
                .describe("The identifier the organization assigned to the user."),
            string("costCenter").describe("The cost center."),
            string("organization").describe("The organization."),
            string("division").describe("The division."),
            string("department").describe("The department."),
            complex(
                "manager",
                [
                    string("value").describe("The `id` of the user's manager."),
                    reference("$ref", &["User"])
                        .describe("The URI of the manager's User resource."),
                    read_only(string("displayName")).describe("The manager's display name."),
                ],
            )
            .describe("The user's manager."),
        ],
    )
    .describe("Enterprise User")
}

/// The schema of `/ServiceProviderConfig` (RFC 7643 §5, §8.7.2).
pub fn service_provider_config_schema() -> Schema {
    let ro = |a: AttributeDef| read_only(a);
    let supported =
        || ro(boolean("supported").required()).describe("Whether the operation is supported.");
    let feature = |name: &str, description: &str, extra: Vec<AttributeDef>| {
        let mut subs = vec![supported()];
        subs.extend(extra);
        ro(complex(name, subs).required()).describe(description)
    };
    let integer =
        |name: &str, d: &str| ro(AttributeDef::new(name, T::Integer).required()).describe(d);
    Schema::new(
        SERVICE_PROVIDER_CONFIG_URN,
        "Service Provider Configuration",
        [
            ro(reference("documentationUri", &["external"])).describe(
                "An HTTP-addressable URL pointing to the service provider's help documentation.",
            ),
            feature("patch", "PATCH configuration options.", vec![]),
            feature(
                "bulk",
                "Bulk configuration options.",
                vec![
                    integer(
                        "maxOperations",
                        "The maximum number of operations in one bulk request.",
                    ),
                    integer(
                        "maxPayloadSize",
                        "The maximum payload size of a bulk request, in bytes.",
                    ),
                ],
            ),
            feature(
                "filter",
                "Filter configuration options.",
                vec![integer(
                    "maxResults",
                    "The maximum number of resources returned in a response.",
                )],
            ),
            feature(
                "changePassword",
                "Password change configuration options.",
                vec![],
            ),
            feature("sort", "Sort configuration options.", vec![]),
            feature("etag", "ETag configuration options.", vec![]),
            ro(complex(
                "authenticationSchemes",
                [
                    ro(string("name").required())
                        .describe("The common authentication scheme name, e.g. 'HTTP Basic'."),
                    ro(string("description").required())
                        .describe("A description of the authentication scheme."),
                    ro(reference("specUri", &["external"])).describe(
                        "An HTTP-addressable URL pointing to the scheme's specification.",
                    ),
                    ro(reference("documentationUri", &["external"])).describe(
                        "An HTTP-addressable URL pointing to the scheme's usage documentation.",
                    ),
                    ro(string("type").required().canonical_values([
                        "oauth",
                        "oauth2",
                        "oauthbearertoken",
                        "httpbasic",
                        "httpdigest",
                    ]))
                    .describe("The authentication scheme: oauth, oauth2, oauthbearertoken, httpbasic or httpdigest."),
                    ro(boolean("primary")).describe("Whether this is the preferred authentication scheme."),
                ],
            )
            .multi_valued()
            .required())
            .describe("The supported authentication schemes."),
        ],
    )
    .describe("Schema for representing the service provider's configuration")
}

/// The schema of `/ResourceTypes` (RFC 7643 §6, §8.7.2).
pub fn resource_type_schema() -> Schema {
    let ro = |a: AttributeDef| read_only(a);
    Schema::new(
        RESOURCE_TYPE_SCHEMA,
        "ResourceType",
        [
            ro(string("id")).describe("The resource type's server unique id."),
            ro(string("name").required()).describe("The resource type name, used in 'meta.resourceType'."),
            ro(string("description")).describe("The resource type's human-readable description."),
            ro(reference("endpoint", &["uri"]).required()).describe("The resource type's HTTP-addressable endpoint relative to the base URL, e.g. '/Users'."),
            ro(reference("schema", &["uri"]).required().case_exact()).describe("The resource type's primary/base schema URI."),
            ro(complex(
                "schemaExtensions",
                [
                    ro(reference("schema", &["uri"]).required().case_exact()).describe("The URI of a schema extension."),
                    ro(boolean("required").required()).describe("Whether resources of this type must include the extension."),
                ],
            )
            .multi_valued())
            .describe("A list of URIs of the resource type's schema extensions."),
        ],
    )
    .describe("Specifies the schema that describes a SCIM resource type")
}

/// The characteristics every attribute definition has, used both for `attributes` and, one
/// level down, for `subAttributes` of the Schema schema.
fn attribute_characteristics(with_sub_attributes: bool) -> Vec<AttributeDef> {
    let ro = |a: AttributeDef| read_only(a);
    let mut attrs = vec![
        ro(string("name").required().case_exact()).describe("The attribute's name."),
        ro(string("type").required().canonical_values([
            "string",
            "complex",
            "boolean",
            "decimal",
            "integer",
            "dateTime",
            "reference",
            "binary",
        ]))
        .describe("The attribute's data type."),
        ro(boolean("multiValued").required()).describe("Whether the attribute is multi-valued."),
        ro(string("description").case_exact())
            .describe("A human-readable description of the attribute."),
        ro(boolean("required")).describe("Whether the attribute is required."),
        ro(string("canonicalValues").multi_valued().case_exact())
            .describe("A collection of suggested canonical values."),
        ro(boolean("caseExact")).describe("Whether string comparisons are case-sensitive."),
        ro(string("mutability").case_exact().canonical_values([
            "readOnly",
            "readWrite",
            "immutable",
            "writeOnly",
        ]))
        .describe("Whether and how the attribute can be modified."),
        ro(string("returned")
            .case_exact()
            .canonical_values(["always", "never", "default", "request"]))
        .describe("When the attribute is returned in a response."),
        ro(string("uniqueness")
            .case_exact()
            .canonical_values(["none", "server", "global"]))
        .describe("How the service provider enforces uniqueness."),
        ro(string("referenceTypes").multi_valued().case_exact())
            .describe("The resource types that may be referenced."),
    ];
    if with_sub_attributes {
        attrs.push(
            ro(complex("subAttributes", attribute_characteristics(false)).multi_valued())
                .describe("The sub-attributes of a complex attribute."),
        );
    }
    attrs
}

/// The schema of `/Schemas` (RFC 7643 §7, §8.7.2).
pub fn schema_schema() -> Schema {
    let ro = |a: AttributeDef| read_only(a);
    Schema::new(
        SCHEMA_SCHEMA,
        "Schema",
        [
            ro(string("id").required()).describe("The unique URI of the schema."),
            ro(string("name").required()).describe("The schema's human-readable name."),
            ro(string("description")).describe("The schema's human-readable description."),
            ro(complex("attributes", attribute_characteristics(true))
                .multi_valued()
                .required())
            .describe("The schema's attributes."),
        ],
    )
    .describe("Specifies the schema that describes a SCIM schema")
}

/// Every built-in schema: User, Group, Enterprise User, ServiceProviderConfig,
/// ResourceType and Schema, in the order of RFC 7643 §8.7.
pub fn all_schemas() -> Vec<Schema> {
    vec![
        user(),
        group(),
        enterprise_user(),
        service_provider_config_schema(),
        resource_type_schema(),
        schema_schema(),
    ]
}

/// The built-in resource types of RFC 7643 §8.6: User (with the optional Enterprise User
/// extension) and Group.
pub fn resource_types() -> Vec<ResourceType> {
    vec![
        ResourceType::new("User", "/Users", USER)
            .describe("User Account")
            .with_extension(ENTERPRISE_USER, false),
        ResourceType::new("Group", "/Groups", GROUP).describe("Group"),
    ]
}
