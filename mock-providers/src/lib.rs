//! Hubspot and Salesforce mock providers: one pure definition per provider, served in-process on
//! virtual time or, behind the `http` feature, as an axum router on wall time.
