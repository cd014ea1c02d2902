//! What the loopback tests share.

use std::net::SocketAddr;

/// Serves `app` on an ephemeral loopback port, with each connection's peer address in
/// axum's `ConnectInfo`, for as long as the runtime lives; returns its base URL.
pub(crate) async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    format!("http://{addr}")
}
