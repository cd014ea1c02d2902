//! Feature flags as kill switches: a pipeline behind a flag refuses calls at once while
//! the flag is off (and a fallback serves the degraded answer), a fallback behind a
//! flag is withdrawn while it is off, and a configuration file names the flag.

use std::cell::Cell;

use rampart::fallback::{Fallback, FallbackChain};
use rampart::flags::Flags;
use rampart::registry::Registry;
use rampart::{Error, Pipeline, RejectionKind};

fn kind<T, E>(r: &Result<T, Error<E>>) -> Option<RejectionKind> {
    match r {
        Err(Error::Rejected(x)) => Some(x.kind()),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_behind_a_flag_runs_only_while_it_is_on() {
    let flags = Flags::new();
    let recommendations = flags.define("recommendations", true).unwrap();
    let p = Pipeline::builder("recommendations")
        .when_enabled(recommendations)
        .build()
        .unwrap();
    assert_eq!(p.flag().map(|f| f.name()), Some("recommendations"));
    let runs = Cell::new(0);
    let call = || {
        runs.set(runs.get() + 1);
        async { Ok::<_, &str>(["a", "b"]) }
    };
    assert!(p.call(call).await.is_ok());

    // The incident: switch the feature off; calls are refused without running.
    flags.set("recommendations", false).unwrap();
    let out = p.call(call).await;
    assert_eq!(kind(&out), Some(RejectionKind::FeatureDisabled));
    let Err(Error::Rejected(r)) = out else {
        unreachable!()
    };
    assert_eq!(r.policy(), "feature_flag");
    let blocking: Result<u8, Error<&str>> = p.call_blocking(|| Ok(1));
    assert_eq!(kind(&blocking), Some(RejectionKind::FeatureDisabled));
    assert_eq!(runs.get(), 1);

    flags.set("recommendations", true).unwrap();
    assert!(p.call(call).await.is_ok());
    assert_eq!(runs.get(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_fallback_serves_the_degraded_answer_while_the_feature_is_off() {
    let flags = Flags::new();
    let p = Pipeline::builder("reviews")
        .when_enabled(flags.define("reviews", false).unwrap())
        .build()
        .unwrap();
    let chain: FallbackChain<&str, &str> = FallbackChain::new().fallback(
        Fallback::value("no reviews", "reviews are unavailable")
            .on_rejection(&[RejectionKind::FeatureDisabled]),
    );
    let out = p
        .call_with_fallback(|| async { Ok("4.5 stars") }, &chain)
        .await
        .unwrap();
    assert!(out.is_degraded());
    assert_eq!(*out.value(), "reviews are unavailable");
}

#[tokio::test(start_paused = true)]
async fn a_fallback_behind_a_flag_is_withdrawn_while_it_is_off() {
    let flags = Flags::new();
    let stale_ok = flags.define("serve-stale-prices", true).unwrap();
    let p = Pipeline::builder("prices").build().unwrap();
    let chain: FallbackChain<u32, &str> = FallbackChain::new()
        .fallback(Fallback::value("stale", 99).when_enabled(stale_ok))
        .value("unknown", 0);
    let down = || async { Err::<u32, _>("down") };
    let out = p.call_with_fallback(down, &chain).await.unwrap();
    assert_eq!(*out.value(), 99);
    flags.set("serve-stale-prices", false).unwrap();
    let out = p.call_with_fallback(down, &chain).await.unwrap();
    assert_eq!(*out.value(), 0, "the next fallback answers instead");
}

#[tokio::test(start_paused = true)]
async fn a_configuration_file_names_the_flag_of_a_dependency() {
    let registry = Registry::from_toml(
        "[dependencies.recommendations]\nflag = \"recommendations\"\n\
         policies = [{ policy = \"timeout\", duration = \"500ms\" }]\n",
        "shop.toml",
    )
    .unwrap();
    let p = registry.pipeline("recommendations").unwrap();
    assert!(
        registry.flags().is_enabled("recommendations").unwrap(),
        "new flags start on"
    );
    assert_eq!(p.call(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    registry.flags().set("recommendations", false).unwrap();
    let out = p.call(|| async { Ok::<_, &str>(1) }).await;
    assert_eq!(kind(&out), Some(RejectionKind::FeatureDisabled));

    // Flags given to the builder keep their value.
    let flags = Flags::new();
    flags.define("recommendations", false).unwrap();
    let file = rampart::registry::ConfigFile::parse(
        "[dependencies.recommendations]\nflag = \"recommendations\"\n",
        "shop.toml",
    )
    .unwrap();
    let registry = Registry::builder().flags(flags).build(&file).unwrap();
    let p = registry.pipeline("recommendations").unwrap();
    let out = p.call(|| async { Ok::<_, &str>(1) }).await;
    assert_eq!(kind(&out), Some(RejectionKind::FeatureDisabled));
}

#[test]
fn a_bad_flag_name_in_a_file_names_the_line_and_key() {
    let err = Registry::from_toml("[dependencies.a]\nsla = \"1s\"\nflag = \"\"\n", "shop.toml")
        .unwrap_err();
    assert_eq!(err.line(), Some(3), "{err}");
    assert_eq!(err.key_path(), Some("dependencies.a.flag"), "{err}");
}
