//! Behaviour tests of the mock providers: one binary, one module per behaviour.

mod accounts;
mod admin_api;
mod budgets;
mod contract_table;
mod faults;
#[cfg(feature = "http")]
mod http_form;
mod hubspot_rules;
mod hubspot_wire;
mod journal_checks;
mod salesforce_rules;
mod salesforce_wire;
mod support;
mod tokens;
