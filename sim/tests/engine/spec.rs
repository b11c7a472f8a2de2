//! The API layer and `spec/openapi.yaml` describe the same routes.

use std::collections::BTreeSet;

use serde_json::Value;
use transfersim_sim::api::ROUTES;

#[test]
fn openapi_documents_exactly_the_routes_the_api_layer_serves() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("spec/openapi.yaml is readable");
    let document: Value = serde_saphyr::from_str(&text).expect("spec/openapi.yaml parses as YAML");
    let mut documented = BTreeSet::new();
    for (route, item) in document["paths"].as_object().expect("paths is a map") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), route.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but undocumented: {undocumented:?}; documented but not served: {unserved:?}"
    );
}
