//! The stages of `setup`, in run order, one file each. `releases` holds what the chart stages share.
//! What a stage asks the cluster comes from the read side (`crate::cluster`), the same answers `verify` gets.

mod adapter;
mod autoscaler;
pub(crate) mod cluster;
mod grafana;
mod helm;
mod interlok;
pub(crate) mod keda;
mod kubectl_path;
pub(crate) mod network;
pub(crate) mod owned;
mod prerequisites;
mod prometheus;
mod releases;
mod scaledobject;
mod version_skew;

use crate::engine::Stage;

/// Every stage of `setup`, in run order (the order of `StageId::ALL`).
pub fn all() -> Vec<Box<dyn Stage>> {
    vec![
        Box::new(prerequisites::Prerequisites),
        Box::new(kubectl_path::KubectlPath),
        Box::new(network::Network),
        Box::new(cluster::Cluster),
        Box::new(version_skew::VersionSkew),
        Box::new(helm::Helm),
        Box::new(prometheus::Prometheus),
        Box::new(interlok::Interlok),
        Box::new(keda::Keda),
        Box::new(scaledobject::ScaledObject),
        Box::new(adapter::Adapter),
        Box::new(autoscaler::Autoscaler),
        Box::new(grafana::Grafana),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StageId;

    #[test]
    fn every_id_has_exactly_one_stage_in_run_order() {
        let ids: Vec<StageId> = all().iter().map(|s| s.id()).collect();
        assert_eq!(ids, StageId::ALL);
    }

    #[test]
    fn every_link_check_is_a_verify_check() {
        let known = crate::verify::check_ids();
        for stage in all() {
            for id in stage.link() {
                assert!(known.contains(id), "stage {} names unknown check {id}", stage.id());
            }
        }
    }

    #[test]
    fn a_stage_proves_its_link_with_the_checks_of_its_own_path() {
        use crate::settings::Scaler;
        for scaler in [Scaler::Adapter, Scaler::Keda] {
            let mut settings = crate::settings::Settings::defaults();
            settings.scaler = scaler;
            let path = crate::verify::check_ids_on(scaler);
            for stage in all().iter().filter(|s| s.not_applicable(&settings).is_none()) {
                for id in stage.link() {
                    assert!(path.contains(id), "stage {} on the {scaler} path names {id}, not on it", stage.id());
                }
            }
        }
    }

    #[test]
    fn predecessors_come_earlier_in_run_order() {
        let settings = crate::settings::Settings::defaults();
        let ui = crate::ui::Ui::plain();
        let cx = crate::context::Context::new(settings, crate::runner::Runner::new(ui.clone(), true), ui);
        for stage in all() {
            for before in stage.after(&cx) {
                assert!(*before < stage.id(), "{} runs after {before}, which comes later", stage.id());
            }
        }
    }
}
