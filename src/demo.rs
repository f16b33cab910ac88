//! The autoscaling proof: fire the 2019 guide's 150 messages at the inbox path (`/in-box`), then follow them link
//! by link — Prometheus has them, the custom (or on KEDA's path the external) metrics API serves them, the
//! autoscaler wants 2 replicas — and report each link as it is reached, with how long it took. When a link
//! does not come, verify explains why; Ctrl-C stops it at once, with nothing more claimed.

use std::time::{Duration, Instant};

use crate::cluster::{adapter, autoscaler, keda};
use crate::context::Context;
use crate::load::{self, Plan, Target};
use crate::problem::Problem;
use crate::settings::Scaler;
use crate::verify::{self, Probe, Status};
use crate::wait::{self, Poll};

pub(crate) const MESSAGES: u64 = 150;

/// Runs the proof, handing each link's line to `reached` as it comes; the problem with verify's findings when
/// a link does not come, or where Ctrl-C stopped it.
pub(crate) fn run(cx: &Context, reached: &mut dyn FnMut(&str)) -> Result<(), Problem> {
    let s = &cx.settings;
    let forward = crate::cluster::interlok::forward(cx).map_err(|problem| {
        if crate::runner::interrupted() {
            interrupted("opening a port-forward to Interlok")
        } else {
            problem
        }
    })?;
    let target = Target::parse(&forward.url(&s.inbox_path), "GET", Vec::new()).map_err(Problem::new)?;
    let plan = Plan {
        target,
        requests: MESSAGES,
        duration: None,
        concurrency: 1,
        rate: None,
        timeout: Duration::from_secs(10),
    };
    // before the messages: under load the autoscaler may have scaled by the time they are all sent
    let replicas_before = hpa_replicas(cx).0;
    let started = Instant::now();
    let sending = cx.ui.spinner(&format!("sending {MESSAGES} messages to {}", s.inbox_path));
    let stop = crate::runner::interrupt_flag();
    let sent = load::run(&plan, &stop, &|done| {
        sending.set_message(&format!("sending {MESSAGES} messages to {}: {done} sent", s.inbox_path))
    });
    drop(sending);
    if crate::runner::interrupted() {
        return Err(interrupted(&format!("{} of {MESSAGES} messages were sent", sent.ok())));
    }
    if sent.ok() < MESSAGES {
        return Err(Problem::new(format!(
            "only {} of {MESSAGES} messages were accepted by {}",
            sent.ok(),
            s.inbox_path
        ))
        .with_hint("see `interlok-k8s verify`"));
    }
    reached(&format!("sent {MESSAGES} messages to {} in {:.1}s", s.inbox_path, started.elapsed().as_secs_f64()));
    let probe = Probe::new(cx, None, None);
    let limit = s.wait_timeout;
    let keda = autoscaler::scaler_in_use(cx) == Scaler::Keda;
    let (served, wants) = if keda {
        ("KEDA's external metrics API serves them", "KEDA's autoscaler wants 2 replicas")
    } else {
        ("the custom metrics API serves them", "the autoscaler wants 2 replicas")
    };
    let links: [(&str, &dyn Fn() -> bool); 3] = [
        ("Prometheus has the messages", &|| in_prometheus(&probe)),
        (served, &|| if keda { external_value(cx) > 0.0 } else { adapter::values(cx).is_ok_and(|v| !v.is_empty()) }),
        (wants, &|| hpa_replicas(cx).1 >= 2),
    ];
    for (what, link) in links {
        let at = wait::until(cx, what, limit.saturating_sub(started.elapsed()), || {
            if link() {
                Poll::Ready(())
            } else {
                Poll::Waiting("not yet".into())
            }
        });
        match at {
            Ok(()) => reached(&format!("{what} after {:.1}s", started.elapsed().as_secs_f64())),
            Err(_) if crate::runner::interrupted() => return Err(interrupted(&format!("waiting until {what}"))),
            Err(_) => return Err(explain(&probe, what)),
        }
    }
    let wanted = hpa_replicas(cx).1;
    if crate::runner::interrupted() {
        return Err(interrupted("reading the autoscaler"));
    }
    reached(&format!("scaled {} → {wanted}", replicas_before.max(1)));
    Ok(())
}

/// Where Ctrl-C stopped the proof (nothing after that is claimed).
fn interrupted(doing: &str) -> Problem {
    Problem::new(format!("interrupted (Ctrl-C) while {doing}"))
        .with_hint("`interlok-k8s watch` shows the autoscaler as it goes on; `interlok-k8s demo` runs the proof again")
}

fn in_prometheus(probe: &Probe) -> bool {
    let Ok(url) = probe.prometheus() else { return false };
    let s = &probe.cx.settings;
    let query = format!("sum({{__name__=~\"{}(_total)?\",k8s_namespace=\"{}\"}})", s.metric, s.namespace);
    crate::prometheus_api::query(&url, &query)
        .is_ok_and(|v| v.first().is_some_and(|(_, value)| *value >= MESSAGES as f64 / 2.0))
}

/// (current, desired) replicas of the autoscaler, whichever path made it.
fn hpa_replicas(cx: &Context) -> (u64, u64) {
    let hpa = autoscaler::hpa(cx).ok().flatten().unwrap_or_default();
    (hpa.status.current_replicas, hpa.status.desired_replicas)
}

/// What KEDA's external metrics API serves for the wizard's ScaledObject now (0 when nothing).
fn external_value(cx: &Context) -> f64 {
    let Ok(Some(so)) = keda::scaled_object(cx) else { return 0.0 };
    match keda::external_value(cx, &so) {
        Ok(Ok(value)) => keda::quantity(&value).unwrap_or(0.0),
        _ => 0.0,
    }
}

fn explain(probe: &Probe, what: &str) -> Problem {
    let outcomes = verify::run(probe, false);
    let broken: Vec<String> =
        outcomes.iter().filter(|o| o.status == Status::Fail).map(|o| format!("{}: {}", o.id, o.message)).collect();
    let hint = outcomes
        .iter()
        .find(|o| o.status == Status::Fail)
        .and_then(|o| o.hint.clone())
        .unwrap_or_else(|| "run `interlok-k8s verify --wait 2m`".into());
    Problem::new(format!(
        "{what} did not happen in time; verify finds: {}",
        if broken.is_empty() {
            "nothing broken (it may need longer: raise --wait-timeout)".into()
        } else {
            broken.join("; ")
        }
    ))
    .with_hint(hint)
}
