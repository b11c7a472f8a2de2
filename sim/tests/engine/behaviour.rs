//! The foundation's acceptance checks. Each check is a function of the mutation it runs under,
//! so the same code proves the real engine right (`None`) and each mutation caught (`Some`).

use serde_json::{Value, json};

use crate::ensure;
use crate::support::*;
use transfersim_sim::world::World;

const SECOND: u64 = 1_000;

/// A transfer triggered before configuration is answered 200, stays queued without provider
/// calls, and starts only after configuration.
pub fn queued_until_configured(mutation: Option<Mutation>) -> Check {
    let mut world = world_with(1, mutation, 300, 50, 100);
    let session = initiate(&mut world, json!({}))?;
    let handle = trigger_pull(&mut world, &session, false);
    let answer = world.answer_of(handle).cloned().ok_or("no answer")?;
    ensure!(
        answer.status() == 200,
        "trigger before configuration answered {}",
        answer.status()
    );
    ensure!(
        answer.json()["completed"] == json!(false),
        "async trigger said completed: {}",
        answer.json()
    );
    let transfer = transfer_id_of(&world, handle)?;
    world.advance(3600 * SECOND);
    let state = state_of(&mut world, &transfer)?;
    ensure!(
        state == "queued",
        "an hour before configuration the transfer is {state}, not queued"
    );
    let configure_at = world.now();
    configure(&mut world, &session)?;
    world.advance(60 * SECOND);
    let state = state_of(&mut world, &transfer)?;
    ensure!(
        state == "completed",
        "a minute after configuration the transfer is {state}"
    );
    let started = world
        .engine()
        .transfers()
        .find(|t| t.id == transfer)
        .and_then(|t| t.started_at)
        .ok_or("transfer never started")?;
    ensure!(
        started >= configure_at,
        "transfer started {} ms before configuration",
        configure_at - started
    );
    let data = call(
        &mut world,
        "GET",
        &format!("/api/pull/data?transfer_id={transfer}&limit=1000"),
        None,
    );
    ensure!(
        data.json()["meta"]["count"] == json!(300),
        "pull delivered {} records, not 300",
        data.json()["meta"]["count"]
    );
    Ok(())
}

/// Three transfers triggered before configuration run one at a time, in trigger order.
pub fn runs_in_trigger_order(mutation: Option<Mutation>) -> Check {
    let mut world = world_with(2, mutation, 250, 100, 100);
    let session = initiate(&mut world, json!({}))?;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let handle = trigger_pull(&mut world, &session, false);
        ids.push(transfer_id_of(&world, handle)?);
    }
    configure(&mut world, &session)?;
    world.advance(60 * SECOND);
    let mut spans = Vec::new();
    for id in &ids {
        let transfer = world
            .engine()
            .transfers()
            .find(|t| &t.id == id)
            .ok_or("transfer vanished")?;
        let (Some(start), Some(end)) = (transfer.started_at, transfer.completed_at) else {
            return Err(format!("transfer {id} did not complete"));
        };
        spans.push((start, end));
    }
    for pair in spans.windows(2) {
        ensure!(
            pair[0].1 <= pair[1].0,
            "a later-triggered transfer started at {} before the earlier one completed at {} (spans {spans:?})",
            pair[1].0,
            pair[0].1
        );
    }
    Ok(())
}

/// Pages × latency decide when a pull completes: `pages` pages at `latency_ms` each.
fn sync_pull(
    mutation: Option<Mutation>,
    pages: usize,
    latency_ms: u64,
    configured: bool,
) -> Result<(u16, u64, Value, World, String), String> {
    let mut world = world_with(3, mutation, pages * 100, latency_ms, 100);
    let session = initiate(&mut world, json!({}))?;
    if configured {
        configure(&mut world, &session)?;
    }
    let start = world.now();
    let handle = trigger_pull(&mut world, &session, true);
    ensure!(
        world.answer_of(handle).is_none(),
        "a synchronous trigger was answered at once"
    );
    world.advance(400 * SECOND);
    let answer = world
        .answer_of(handle)
        .cloned()
        .ok_or("no answer within 400 s")?;
    let transfer = answer.json()["transfer_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok((
        answer.status(),
        answer.at - start,
        answer.json(),
        world,
        transfer,
    ))
}

/// A synchronous pull completing at 299 s is answered 200 `completed: true` at 299 s.
pub fn sync_answered_at_completion(mutation: Option<Mutation>) -> Check {
    let (status, at, body, _, _) = sync_pull(mutation, 13, 23 * SECOND, true)?;
    ensure!(
        status == 200 && body["completed"] == json!(true),
        "answered {status} {body}"
    );
    ensure!(at == 299 * SECOND, "answered at {at} ms, not 299000");
    Ok(())
}

/// Still running at 300 s: 202 at exactly 300 s, and the transfer then completes.
pub fn sync_capped_at_300_seconds(mutation: Option<Mutation>) -> Check {
    let (status, at, body, mut world, transfer) = sync_pull(mutation, 14, 23 * SECOND, true)?;
    ensure!(
        status == 202,
        "a transfer running past 300 s was answered {status} {body}"
    );
    ensure!(at == 300 * SECOND, "the 202 came at {at} ms, not 300000");
    ensure!(
        body["completed"] == json!(false),
        "202 body says completed: {body}"
    );
    ensure!(
        body["message"]
            == json!(
                "Transfer did not complete within 300 seconds; it continues in the background."
            ),
        "202 message: {}",
        body["message"]
    );
    let state = state_of(&mut world, &transfer)?;
    ensure!(
        state == "completed",
        "after the cap the transfer is {state}, not completed"
    );
    Ok(())
}

/// Completion at the very instant of the cap is answered 200.
pub fn sync_completion_wins_a_tie(mutation: Option<Mutation>) -> Check {
    let (status, at, body, _, _) = sync_pull(mutation, 15, 20 * SECOND, true)?;
    ensure!(
        status == 200 && at == 300 * SECOND,
        "completion at 300 s answered {status} at {at} ms: {body}"
    );
    Ok(())
}

/// On an unconfigured session: 202 at 300 s.
pub fn sync_unconfigured_capped(mutation: Option<Mutation>) -> Check {
    let (status, at, body, _, _) = sync_pull(mutation, 1, 50, false)?;
    ensure!(
        status == 202 && at == 300 * SECOND,
        "unconfigured synchronous trigger answered {status} at {at} ms: {body}"
    );
    Ok(())
}

/// The session is deleted while a synchronous call waits: 404 at once.
pub fn sync_session_deleted(mutation: Option<Mutation>) -> Check {
    let mut world = world_with(4, mutation, 100, 50, 100);
    let session = initiate(&mut world, json!({}))?;
    let handle = trigger_pull(&mut world, &session, true);
    world.advance(10 * SECOND);
    let deleted_at = world.now();
    let delete = call(
        &mut world,
        "POST",
        "/api/session/delete",
        Some(json!({"session_id": session})),
    );
    ensure!(
        delete.status() == 200,
        "delete answered {}",
        delete.status()
    );
    let answer = world
        .answer_of(handle)
        .cloned()
        .ok_or("the synchronous call was not answered at the delete")?;
    ensure!(
        answer.status() == 404 && answer.at == deleted_at,
        "answered {} at {} ms relative to the delete",
        answer.status(),
        i128::from(answer.at) - i128::from(deleted_at)
    );
    ensure!(
        answer.json()["message"] == json!("Invalid or expired session."),
        "message {}",
        answer.json()
    );
    Ok(())
}

/// `/api/pull/data` is 409 until completion, then pages are contiguous and cover every record
/// exactly once, in provider order, with correct `meta`.
pub fn pull_data_pages(mutation: Option<Mutation>) -> Check {
    let records = 1_234;
    let mut world = world_with(5, mutation, records, 200, 100);
    let session = initiate(&mut world, json!({}))?;
    configure(&mut world, &session)?;
    let handle = trigger_pull(&mut world, &session, false);
    let transfer = transfer_id_of(&world, handle)?;
    world.advance(SECOND);
    let early = call(
        &mut world,
        "GET",
        &format!("/api/pull/data?transfer_id={transfer}"),
        None,
    );
    ensure!(
        early.status() == 409,
        "data while running answered {}: {}",
        early.status(),
        early.json()
    );
    ensure!(
        early.json()["message"] == json!("Transfer has not yet completed."),
        "409 message {}",
        early.json()
    );
    world.advance(60 * SECOND);
    let mut link = format!("/api/pull/data?transfer_id={transfer}&limit=100");
    let mut seen = Vec::new();
    let mut expected_offset = 0u64;
    for _ in 0..100 {
        let page = call(&mut world, "GET", &link, None);
        ensure!(page.status() == 200, "{link} answered {}", page.status());
        let body = page.json();
        ensure!(
            body["completed"] == json!(true) && body["success"] == json!(true),
            "page body {}",
            body["completed"]
        );
        ensure!(
            body["meta"]["count"] == json!(records),
            "meta.count {}",
            body["meta"]["count"]
        );
        if expected_offset > 0 {
            ensure!(
                body["meta"]["previous"]["offset"] == json!(expected_offset.saturating_sub(100)),
                "previous offset {} at offset {expected_offset}",
                body["meta"]["previous"]
            );
        } else {
            ensure!(
                body["meta"].get("previous").is_none(),
                "first page has a previous link"
            );
        }
        for item in body["transfer_data"].as_array().ok_or("no transfer_data")? {
            seen.push(item["id"].as_str().unwrap_or_default().to_owned());
        }
        match body["meta"]["next"]["link"].as_str() {
            Some(next) => {
                expected_offset += 100;
                ensure!(
                    body["meta"]["next"]["offset"] == json!(expected_offset),
                    "next offset {}",
                    body["meta"]["next"]
                );
                link = next.to_owned();
            }
            None => break,
        }
    }
    let expected: Vec<String> = (1..=records).map(|n| format!("c{n}")).collect();
    ensure!(
        seen == expected,
        "pages delivered {} ids, first difference at {:?}",
        seen.len(),
        seen.iter().zip(&expected).position(|(a, b)| a != b)
    );
    Ok(())
}

/// Every id of one key is a 404 for another key, with the same message as a missing id.
pub fn keys_are_isolated(mutation: Option<Mutation>) -> Check {
    let mut world = world_with(6, mutation, 10, 50, 100);
    let session = initiate(&mut world, json!({}))?;
    configure(&mut world, &session)?;
    let handle = trigger_pull(&mut world, &session, false);
    let transfer = transfer_id_of(&world, handle)?;
    world.advance(10 * SECOND);
    let minted = call(&mut world, "POST", "/api/test_helpers/api_keys", None);
    let other = minted.json()["api_key"]
        .as_str()
        .ok_or("api_keys helper gave no key")?
        .to_owned();
    let probes: Vec<(&str, String, Option<Value>, &str)> = vec![
        (
            "GET",
            format!("/api/session/configuration?session_id={session}"),
            None,
            "Invalid or expired session.",
        ),
        (
            "POST",
            "/api/session/delete".to_owned(),
            Some(json!({"session_id": session})),
            "Invalid or expired session.",
        ),
        (
            "POST",
            "/api/pull/transfer".to_owned(),
            Some(json!({"session_id": session, "endgrate_type": "crm-contact"})),
            "Invalid or expired session.",
        ),
        (
            "GET",
            format!("/api/pull/data?transfer_id={transfer}"),
            None,
            "Transfer not found.",
        ),
        (
            "GET",
            format!("/api/statistics?transfer_id={transfer}"),
            None,
            "Transfer not found.",
        ),
        (
            "GET",
            format!("/api/errors?session_id={session}"),
            None,
            "Invalid or expired session.",
        ),
        (
            "GET",
            format!("/api/errors?transfer_id={transfer}"),
            None,
            "Transfer not found.",
        ),
        (
            "POST",
            "/api/test_helpers/session/configure".to_owned(),
            Some(
                json!({"session_id": session, "provider": "hubspot", "provider_base_url": BASE, "credentials": {"refresh_token": "r", "client_id": "c", "client_secret": "s"}}),
            ),
            "Invalid or expired session.",
        ),
    ];
    for (method, path, body, message) in probes {
        let answer = call_as(&mut world, &other, method, &path, body);
        ensure!(
            answer.status() == 404,
            "another key got {} for {method} {path}",
            answer.status()
        );
        ensure!(
            answer.json()["message"] == json!(message),
            "another key got message {} for {path}",
            answer.json()["message"]
        );
    }
    let own = call(
        &mut world,
        "GET",
        &format!("/api/statistics?transfer_id={transfer}"),
        None,
    );
    ensure!(
        own.status() == 200,
        "the owner lost access: {}",
        own.status()
    );
    Ok(())
}

/// Without `save_session` a session is gone at exactly 72 h, its queued transfers cancelled;
/// with it the session stays.
pub fn session_expires_at_72_hours(mutation: Option<Mutation>) -> Check {
    let mut world = world_with(7, mutation, 10, 50, 100);
    let session = initiate(&mut world, json!({}))?;
    let kept = initiate(&mut world, json!({"save_session": true}))?;
    let handle = trigger_pull(&mut world, &session, false);
    let transfer = transfer_id_of(&world, handle)?;
    world.advance(72 * 3600 * SECOND - 1);
    let before = call(
        &mut world,
        "GET",
        &format!("/api/session/configuration?session_id={session}"),
        None,
    );
    ensure!(
        before.status() == 409,
        "1 ms before 72 h the session answered {}",
        before.status()
    );
    world.advance(1);
    let after = call(
        &mut world,
        "GET",
        &format!("/api/session/configuration?session_id={session}"),
        None,
    );
    ensure!(
        after.status() == 404,
        "at 72 h the session answered {}",
        after.status()
    );
    let stats = call(
        &mut world,
        "GET",
        &format!("/api/statistics?transfer_id={transfer}"),
        None,
    );
    ensure!(
        stats.status() == 404,
        "the expired session's transfer answered {}",
        stats.status()
    );
    ensure!(
        world.engine().transfers().all(|t| t.id != transfer),
        "the queued transfer was not cancelled"
    );
    let saved = call(
        &mut world,
        "GET",
        &format!("/api/session/configuration?session_id={kept}"),
        None,
    );
    ensure!(
        saved.status() == 409,
        "a saved session answered {} at 72 h",
        saved.status()
    );
    Ok(())
}
