//! The handshake: Welcome with the motion constants, and clear rejections.

use asteroids_tests::*;
use shared::codec::encode_client;
use shared::protocol::{ClientMsg, Hello, RejectReason, ServerMsg};
use std::time::Duration;

/// A valid Hello gets a Welcome carrying dt, rates, damping and the arena.
#[tokio::test]
async fn welcome_carries_the_motion_constants() {
    let server = start_server(small_world()).await;
    let (_c, w) = Client::join(server.local_addr(), "Ada").await.unwrap();
    assert_eq!(w.protocol_version, shared::PROTOCOL_VERSION);
    assert_eq!(w.tick_hz, 60);
    assert_eq!(w.snapshot_hz, 20);
    assert_eq!(w.kinematics.dt, 1.0 / 60.0);
    assert_eq!(w.kinematics.substeps, 4);
    assert_eq!(w.kinematics.arena_half_size, [2000.0, 2000.0]);
    assert!(w.kinematics.ship.linear > 0.0, "ships are damped");
    assert!(w.ship_id > 0 && w.player_id > 0);
    server.shutdown().await;
}

/// A client speaking another protocol version is rejected with the reason and close 1008.
#[tokio::test]
async fn wrong_protocol_version_is_rejected_with_reason() {
    let server = start_server(small_world()).await;
    let mut c = Client::connect(server.local_addr()).await.unwrap();
    let hello =
        Hello { protocol_version: shared::PROTOCOL_VERSION + 1, name: "Old page".into(), token: None, ticket: None };
    c.send(&ClientMsg::Hello(hello)).await.unwrap();
    let (ended, seen) = c.until_closed(Duration::from_secs(5)).await.unwrap();
    let [ServerMsg::Rejected(r)] = &seen[..] else { panic!("expected one Rejected, got {seen:?}") };
    assert_eq!(r.reason, RejectReason::ProtocolMismatch { server: shared::PROTOCOL_VERSION });
    assert!(r.message.contains("reload"), "{}", r.message);
    assert_eq!(ended, Ended::Closed(1008, "handshake rejected".into()));
    server.shutdown().await;
}

/// Bad names and a first message that is not a Hello are rejected, not joined.
#[tokio::test]
async fn bad_name_and_missing_hello_are_rejected() {
    let server = start_server(small_world()).await;
    for (bytes, want) in [
        (
            encode_client(&ClientMsg::Hello(Hello {
                protocol_version: shared::PROTOCOL_VERSION,
                name: "<script>".into(),
                token: None,
                ticket: None,
            })),
            RejectReason::InvalidName,
        ),
        (encode_client(&ClientMsg::Ping { nonce: 1 }), RejectReason::ExpectedHello),
        (vec![0xff, 0xff, 0xff], RejectReason::ExpectedHello),
    ] {
        let mut c = Client::connect(server.local_addr()).await.unwrap();
        c.send_raw(bytes).await.unwrap();
        let (ended, seen) = c.until_closed(Duration::from_secs(5)).await.unwrap();
        assert!(matches!(&seen[..], [ServerMsg::Rejected(r)] if r.reason == want), "{seen:?}");
        assert_eq!(ended, Ended::Closed(1008, "handshake rejected".into()));
    }
    assert_eq!(server.latest_frame().players.len(), 0, "no rejected client became a player");
    let counted = server.stats().invalid_messages.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(counted, 3, "each bad first message was counted");
    server.shutdown().await;
}

/// Ping is answered with the same nonce.
#[tokio::test]
async fn ping_pong() {
    let server = start_server(small_world()).await;
    let (mut c, _) = Client::join(server.local_addr(), "Pinger").await.unwrap();
    c.send(&ClientMsg::Ping { nonce: 4242 }).await.unwrap();
    loop {
        if let ServerMsg::Pong { nonce, .. } = c.recv().await.unwrap() {
            assert_eq!(nonce, 4242);
            break;
        }
    }
    server.shutdown().await;
}

/// Look-alikes of a pilot's name (Cyrillic А, fullwidth, mathematical letters, capital I for
/// l) are taken, not new identities; names that draw nothing or stack marks are invalid; the
/// refusals are counted.
#[tokio::test]
async fn look_alike_and_invisible_names_are_refused() {
    let server = start_server(small_world()).await;
    let addr = server.local_addr();
    let (_alice, w) = say_hello(addr, "Alice", None).await.unwrap();
    let ServerMsg::Welcome(w) = w else { panic!("Alice is welcome: {w:?}") };
    let token = w.token.expect("a new identity's token");
    for look_alike in [
        "\u{410}lice",
        "\u{ff21}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}",
        "\u{1d400}\u{1d425}\u{1d422}\u{1d41c}\u{1d41e}",
        "AIice",
    ] {
        let (_c, answer) = say_hello(addr, look_alike, None).await.unwrap();
        let ServerMsg::Rejected(r) = answer else { panic!("{look_alike} was accepted: {answer:?}") };
        assert_eq!(r.reason, RejectReason::NameTaken, "{look_alike}");
    }
    let tower = format!("a{}", "\u{e34}".repeat(asteroids_server::limits::MAX_MARKS_PER_BASE + 1));
    for invalid in ["\u{3164}\u{3164}", "\u{115f}", tower.as_str()] {
        let (_c, answer) = say_hello(addr, invalid, None).await.unwrap();
        let ServerMsg::Rejected(r) = answer else { panic!("{invalid:?} was accepted: {answer:?}") };
        assert_eq!(r.reason, RejectReason::InvalidName, "{invalid:?}");
    }
    let stats = server.stats();
    assert_eq!(
        stats.look_alike_names.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "fullwidth and mathematical share the key"
    );
    assert_eq!(stats.names_refused.load(std::sync::atomic::Ordering::Relaxed), 3);
    // The owner's token still opens the identity, under its registered spelling.
    let (_again, answer) = say_hello(addr, "\u{ff21}lice", Some(&token)).await.unwrap();
    assert!(matches!(answer, ServerMsg::Welcome(_)), "{answer:?}");
    server.shutdown().await;
}
