//! Which Host headers name the server, and the secrets.

use std::net::SocketAddr;

use super::{Guard, Secret, split_host};

fn guard(addr: &str) -> Guard {
    Guard::new(addr.parse::<SocketAddr>().unwrap())
}

#[test]
fn a_loopback_server_answers_for_loopback_names_on_its_port_only() {
    let guard = guard("127.0.0.1:7420");
    for host in
        ["127.0.0.1:7420", "localhost:7420", "LOCALHOST:7420", "[::1]:7420", "127.0.0.2:7420"]
    {
        assert!(guard.host_allowed(host), "{host}");
    }
    for host in [
        "attacker.example:7420",
        "attacker.example",
        "127.0.0.1:7421",
        "127.0.0.1",
        "localhost.attacker.example:7420",
        "10.0.0.1:7420",
        "",
        "[::1]x:7420",
    ] {
        assert!(!guard.host_allowed(host), "{host}");
    }
}

#[test]
fn a_server_on_every_address_answers_for_any_ip_but_never_for_a_name() {
    let guard = guard("0.0.0.0:8000");
    assert!(guard.host_allowed("192.0.2.7:8000"));
    assert!(guard.host_allowed("localhost:8000"));
    assert!(!guard.host_allowed("devbox.example:8000"), "a DNS name can be rebound");
    let one = self::guard("192.0.2.7:8000");
    assert!(one.host_allowed("192.0.2.7:8000") && !one.host_allowed("192.0.2.8:8000"));
}

#[test]
fn secrets_are_long_random_and_compared_whole() {
    let (a, b) = (Secret::random(), Secret::random());
    assert_eq!(a.expose().len(), 64, "256 bits as hex");
    assert_ne!(a, b);
    assert!(a.matches(a.expose()));
    assert!(!a.matches(b.expose()));
    assert!(!a.matches(&a.expose()[..63]));
    assert!(!a.matches(""));
    assert_eq!(format!("{a:?}"), "Secret(***)");
    assert_eq!(split_host("[::1]:80"), Some(("::1", 80)));
    assert_eq!(split_host("x"), Some(("x", 80)));
}
