//! Prints the built-in schemas as served at `/Schemas`.
fn main() {
    let schemas: Vec<_> = scimkit_schema::builtin::all_schemas()
        .iter()
        .map(|s| s.to_representation(None))
        .collect();
    #[allow(clippy::print_stdout)]
    {
        println!("{}", serde_json::to_string_pretty(&schemas).unwrap());
    }
}
