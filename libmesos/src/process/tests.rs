use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

async fn next(mailbox: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), mailbox.recv())
        .await
        .expect("no event within 10 s")
        .expect("mailbox closed")
}

async fn next_message(mailbox: &mut mpsc::UnboundedReceiver<Event>) -> Message {
    match next(mailbox).await {
        Event::Message(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Writes `request` on a fresh connection and reads until `responses`
/// status lines have arrived.
async fn raw_exchange(address: SocketAddr, request: &[u8], responses: usize) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut seen = String::new();
    let mut buffer = [0u8; 4096];
    while seen.matches("HTTP/1.1 ").count() < responses {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("no response")
            .unwrap();
        assert!(n > 0, "connection closed after {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    seen
}

#[tokio::test]
async fn delivers_between_instances_in_order() {
    let a = Transport::bind(&BindConfig::loopback(0)).await.unwrap();
    let b = Transport::bind(&BindConfig::loopback(0)).await.unwrap();
    let _a_mailbox = a.spawn("a");
    let mut b_mailbox = b.spawn("b");
    for i in 0..100u8 {
        a.send(
            &a.upid("a"),
            &b.upid("b"),
            "test.Message",
            Bytes::from(vec![i; i as usize]),
        );
    }
    for i in 0..100u8 {
        let message = next_message(&mut b_mailbox).await;
        assert_eq!(message.from, a.upid("a"));
        assert_eq!(message.to, "b");
        assert_eq!(message.name, "test.Message");
        assert_eq!(message.body, vec![i; i as usize]);
    }
}

#[tokio::test]
async fn accepts_the_driver_framing_pipelined() {
    let master = Transport::bind(&BindConfig::loopback(0)).await.unwrap();
    let mut mailbox = master.spawn("master");
    let from = "scheduler-2ed3a775@127.0.0.1:37407";
    let one = format!(
        "POST /master/mesos.scheduler.Call HTTP/1.1\r\nUser-Agent: libprocess/{from}\r\n\
         Libprocess-From: {from}\r\nConnection: Keep-Alive\r\nHost: \r\n\
         Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    );
    // The older form: only the libprocess User-Agent, a Content-Length body.
    let two = format!(
        "POST /master/mesos.internal.Other HTTP/1.1\r\nUser-Agent: libprocess/{from}\r\n\
         Host: 127.0.0.1\r\nContent-Length: 2\r\n\r\nxy"
    );
    let replies = raw_exchange(master.address(), format!("{one}{two}").as_bytes(), 2).await;
    assert_eq!(
        replies.matches("HTTP/1.1 202 Accepted").count(),
        2,
        "{replies}"
    );
    let first = next_message(&mut mailbox).await;
    assert_eq!(first.from.to_string(), from);
    assert_eq!(
        (first.name.as_str(), &first.body[..]),
        ("mesos.scheduler.Call", &b"abc"[..])
    );
    let second = next_message(&mut mailbox).await;
    assert_eq!(
        (second.name.as_str(), &second.body[..]),
        ("mesos.internal.Other", &b"xy"[..])
    );
}

#[tokio::test]
async fn rejects_unknown_processes_and_bad_senders() {
    let master = Transport::bind(&BindConfig::loopback(0)).await.unwrap();
    let _mailbox = master.spawn("master");
    let unknown =
        "POST /nobody/x HTTP/1.1\r\nLibprocess-From: a@127.0.0.1:1\r\nContent-Length: 0\r\n\r\n";
    let replies = raw_exchange(master.address(), unknown.as_bytes(), 1).await;
    assert!(replies.starts_with("HTTP/1.1 404"), "{replies}");
    let bad = "POST /master/x HTTP/1.1\r\nLibprocess-From: not-a-upid\r\nContent-Length: 0\r\n\r\n";
    let replies = raw_exchange(master.address(), bad.as_bytes(), 1).await;
    assert!(replies.starts_with("HTTP/1.1 400"), "{replies}");
}

struct Echo;

impl HttpHandler for Echo {
    fn handle(
        &self,
        request: http::Request<hyper::body::Incoming>,
        path: String,
    ) -> ResponseFuture {
        let method = request.method().clone();
        Box::pin(async move { http::Response::new(Body::full(format!("{method} {path}"))) })
    }
}

#[tokio::test]
async fn routes_plain_http_by_process_and_delegate() {
    let transport = Transport::bind(&BindConfig::loopback(0)).await.unwrap();
    transport.route("master", Arc::new(Echo));
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let replies = raw_exchange(transport.address(), get("/master/state").as_bytes(), 1).await;
    assert!(replies.ends_with("GET /state"), "{replies}");
    let replies = raw_exchange(transport.address(), get("/state").as_bytes(), 1).await;
    assert!(replies.starts_with("HTTP/1.1 404"), "{replies}");
    transport.delegate("master");
    let replies = raw_exchange(transport.address(), get("/state").as_bytes(), 1).await;
    assert!(replies.ends_with("GET /state"), "{replies}");
    // A POST without libprocess headers is plain HTTP (the v1 APIs).
    let post = "POST /master/api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    let replies = raw_exchange(transport.address(), post.as_bytes(), 1).await;
    assert!(replies.ends_with("POST /api/v1/scheduler"), "{replies}");
}

#[tokio::test]
async fn sends_the_libprocess_framing() {
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let transport = Transport::bind(&BindConfig::loopback(0)).await.unwrap();
    let to = Upid::new("scheduler-1", peer.local_addr().unwrap());
    let from = transport.upid("master");
    transport.send(
        &from,
        &to,
        "mesos.internal.FrameworkRegisteredMessage",
        Bytes::from_static(b"ab"),
    );
    transport.send(&from, &to, "mesos.internal.Empty", Bytes::new());
    let (mut stream, _) = peer.accept().await.unwrap();
    let expected = format!(
        "POST /scheduler-1/mesos.internal.FrameworkRegisteredMessage HTTP/1.1\r\n\
         User-Agent: libprocess/{from}\r\nLibprocess-From: {from}\r\nConnection: Keep-Alive\r\n\
         Host: \r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n\
         POST /scheduler-1/mesos.internal.Empty HTTP/1.1\r\n\
         User-Agent: libprocess/{from}\r\nLibprocess-From: {from}\r\nConnection: Keep-Alive\r\n\
         Host: \r\n\r\n"
    );
    let mut got = vec![0u8; expected.len()];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&got), expected);
}

#[tokio::test]
async fn link_reports_exits() {
    let transport = Transport::bind(&BindConfig::loopback(0)).await.unwrap();
    let mut mailbox = transport.spawn("master");
    let me = transport.upid("master");

    // A peer that goes away after accepting.
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let linked = Upid::new("slave(1)", peer.local_addr().unwrap());
    transport.link(&me, &linked);
    let (stream, _) = peer.accept().await.unwrap();
    drop(stream);
    match next(&mut mailbox).await {
        Event::Exited(upid) => assert_eq!(upid, linked),
        other => panic!("expected exited, got {other:?}"),
    }

    // A peer nobody listens for.
    drop(peer);
    let gone = Upid::new("slave(2)", linked.address);
    transport.link(&me, &gone);
    match next(&mut mailbox).await {
        Event::Exited(upid) => assert_eq!(upid, gone),
        other => panic!("expected exited, got {other:?}"),
    }
}

#[test]
fn bind_config_flags_win_over_environment() {
    let env = |name: &str| match name {
        "LIBPROCESS_IP" => Some("10.0.0.1".to_string()),
        "LIBPROCESS_PORT" => Some("6000".to_string()),
        "LIBPROCESS_ADVERTISE_IP" => Some("bogus".to_string()),
        _ => None,
    };
    let from_env = BindConfig::resolve_with(None, None, None, None, 5050, env);
    assert_eq!(from_env.ip.to_string(), "10.0.0.1");
    assert_eq!(from_env.port, 6000);
    assert_eq!(from_env.advertise_ip, None);
    let flags = BindConfig::resolve_with(
        Some("127.0.0.1".parse().unwrap()),
        Some(5051),
        Some("192.168.1.1".parse().unwrap()),
        Some(80),
        5050,
        env,
    );
    assert_eq!(flags.ip.to_string(), "127.0.0.1");
    assert_eq!(flags.port, 5051);
    assert_eq!(flags.advertise_ip.unwrap().to_string(), "192.168.1.1");
    assert_eq!(flags.advertise_port, Some(80));
    let defaults = BindConfig::resolve_with(None, None, None, None, 5050, |_| None);
    assert_eq!(
        (defaults.ip.to_string().as_str(), defaults.port),
        ("0.0.0.0", 5050)
    );
}
