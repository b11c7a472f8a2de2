//! Tokens: lifetimes, expiry, rotation and reuse detection, revocation.

use transfersim_mock_providers::{AccountOptions, InProcessProvider};

use crate::support::*;

fn rotating() -> AccountOptions {
    AccountOptions {
        rotate_refresh_tokens: Some(true),
        ..AccountOptions::default()
    }
}

#[test]
fn reusing_a_rotated_hubspot_refresh_token_revokes_the_grant() {
    let mut hubspot = hubspot();
    let credentials = hubspot.create_account(EPOCH, &rotating()).expect("account");
    let first = send(
        &mut hubspot,
        EPOCH,
        form(
            HUBSPOT_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        ),
    );
    assert_eq!(first.status, 200);
    let second_token = first.json()["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(second_token, credentials.refresh_token);
    let access = first.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        send(
            &mut hubspot,
            EPOCH + 1,
            get("/crm/v3/objects/contacts", Some(&access))
        )
        .status,
        200
    );

    // The old token is dead; using it again is reuse, which kills the whole family.
    let reuse = send(
        &mut hubspot,
        EPOCH + 2,
        form(
            HUBSPOT_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        ),
    );
    assert_eq!(reuse.status, 400);
    assert_eq!(reuse.json()["status"], "BAD_REFRESH_TOKEN");
    let next = send(
        &mut hubspot,
        EPOCH + 3,
        form(HUBSPOT_TOKEN, &refresh_form(&credentials, &second_token)),
    );
    assert_eq!(next.status, 400, "the current token died with its grant");
    assert_eq!(next.json()["status"], "BAD_REFRESH_TOKEN");
    assert_eq!(
        send(
            &mut hubspot,
            EPOCH + 4,
            get("/crm/v3/objects/contacts", Some(&access))
        )
        .status,
        401
    );
}

#[test]
fn reusing_a_rotated_salesforce_refresh_token_revokes_the_grant() {
    let mut salesforce = salesforce();
    let credentials = salesforce
        .create_account(EPOCH, &rotating())
        .expect("account");
    let first = send(
        &mut salesforce,
        EPOCH,
        form(
            SALESFORCE_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        ),
    );
    let rotated = first.json()["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    let second = send(
        &mut salesforce,
        EPOCH + 1,
        form(SALESFORCE_TOKEN, &refresh_form(&credentials, &rotated)),
    );
    assert_eq!(second.status, 200, "the current token works once");
    let third_token = second.json()["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    let reuse = send(
        &mut salesforce,
        EPOCH + 2,
        form(SALESFORCE_TOKEN, &refresh_form(&credentials, &rotated)),
    );
    assert_eq!(reuse.json()["error"], "invalid_grant");
    let next = send(
        &mut salesforce,
        EPOCH + 3,
        form(SALESFORCE_TOKEN, &refresh_form(&credentials, &third_token)),
    );
    assert_eq!(next.status, 400);
    assert_eq!(next.json()["error"], "invalid_grant");
}

#[test]
fn without_rotation_the_same_refresh_token_keeps_working() {
    let mut hubspot = hubspot();
    let credentials = hubspot
        .create_account(EPOCH, &AccountOptions::default())
        .expect("account");
    for i in 0..3 {
        let answer = send(
            &mut hubspot,
            EPOCH + i,
            form(
                HUBSPOT_TOKEN,
                &refresh_form(&credentials, &credentials.refresh_token),
            ),
        );
        assert_eq!(
            answer.json()["refresh_token"],
            credentials.refresh_token.as_str()
        );
    }
}

#[test]
fn an_access_token_expires_after_its_lifetime() {
    let mut hubspot = hubspot();
    let options = AccountOptions {
        token_lifetime_s: Some(60),
        ..AccountOptions::default()
    };
    let credentials = hubspot.create_account(EPOCH, &options).expect("account");
    let answer = send(
        &mut hubspot,
        EPOCH,
        form(
            HUBSPOT_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        ),
    );
    assert_eq!(answer.json()["expires_in"], 60);
    let token = answer.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        send(
            &mut hubspot,
            EPOCH + 59_999,
            get("/crm/v3/objects/contacts", Some(&token))
        )
        .status,
        200
    );
    let expired = send(
        &mut hubspot,
        EPOCH + 60_000,
        get("/crm/v3/objects/contacts", Some(&token)),
    );
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json()["category"], "EXPIRED_AUTHENTICATION");
}

#[test]
fn a_salesforce_session_lasts_two_hours_by_default() {
    let mut salesforce = salesforce();
    let (_, token) = salesforce_account(&mut salesforce, &AccountOptions::default());
    let query = |t: &str| get(&format!("{SF}/query?q=SELECT+Id+FROM+Contact"), Some(t));
    assert_eq!(
        send(&mut salesforce, EPOCH + 7_199_999, query(&token)).status,
        200
    );
    let expired = send(&mut salesforce, EPOCH + 7_200_000, query(&token));
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json()[0]["errorCode"], "INVALID_SESSION_ID");
}

#[test]
fn expiring_tokens_and_revoking_grants_take_effect_at_once() {
    let mut hubspot = hubspot();
    let (credentials, token) = hubspot_account(&mut hubspot, &AccountOptions::default());
    let list = |t: &str| get("/crm/v3/objects/contacts", Some(t));
    assert_eq!(
        hubspot.expire_tokens(EPOCH + 1, &credentials.account_id),
        Ok(1)
    );
    assert_eq!(send(&mut hubspot, EPOCH + 1, list(&token)).status, 401);
    let fresh = send(
        &mut hubspot,
        EPOCH + 2,
        form(
            HUBSPOT_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        ),
    );
    let fresh = fresh.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(send(&mut hubspot, EPOCH + 3, list(&fresh)).status, 200);
    assert_eq!(hubspot.revoke_grants(&credentials.account_id, None), Ok(1));
    assert_eq!(send(&mut hubspot, EPOCH + 4, list(&fresh)).status, 401);
    let refused = hubspot.handle(
        EPOCH + 5,
        form(
            HUBSPOT_TOKEN,
            &refresh_form(&credentials, &credentials.refresh_token),
        ),
    );
    assert_eq!(answer(refused).json()["status"], "BAD_REFRESH_TOKEN");
}

#[test]
fn a_second_grant_on_an_account_shares_its_budget_and_records() {
    let mut hubspot = hubspot();
    let options = AccountOptions {
        budget: Some(transfersim_mock_providers::Budget::Requests(1)),
        ..AccountOptions::default()
    };
    let (credentials, token) = hubspot_account(&mut hubspot, &options);
    let other = hubspot
        .add_grant(&credentials.account_id, &AccountOptions::default())
        .expect("grant");
    assert_ne!(other.client_id, credentials.client_id);
    let answer = send(
        &mut hubspot,
        EPOCH,
        form(HUBSPOT_TOKEN, &refresh_form(&other, &other.refresh_token)),
    );
    let other_token = answer.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        send(
            &mut hubspot,
            EPOCH + 1,
            get("/crm/v3/objects/contacts", Some(&token))
        )
        .status,
        200
    );
    assert_eq!(
        send(
            &mut hubspot,
            EPOCH + 2,
            get("/crm/v3/objects/contacts", Some(&other_token))
        )
        .status,
        429
    );
}
