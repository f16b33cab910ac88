//! The autoscaler of the Interlok Deployment, whichever path made it: the wizard's HPA (fed by
//! prometheus-adapter), or the HPA KEDA made for the wizard's ScaledObject.

use super::views::Hpa;
use super::{get, keda, Reader};
use crate::problem::Problem;
use crate::settings::Scaler;

/// Which path scales the Deployment: KEDA when the wizard's ScaledObject exists, the adapter when its HPA
/// does, otherwise (or when the cluster cannot be asked) the one the settings choose.
pub(crate) fn scaler_in_use(reader: &(impl Reader + ?Sized)) -> Scaler {
    let s = &reader.cx().settings;
    if keda::scaled_object(reader).ok().flatten().is_some() {
        return Scaler::Keda;
    }
    if get::<Hpa>(reader, "hpa", &s.namespace, &s.deployment).ok().flatten().is_some() {
        return Scaler::Adapter;
    }
    s.scaler
}

/// The HPA that scales the Deployment: KEDA's for the wizard's ScaledObject, else the wizard's own.
pub(crate) fn hpa(reader: &(impl Reader + ?Sized)) -> Result<Option<Hpa>, Problem> {
    if let Some(so) = keda::scaled_object(reader)? {
        return keda::hpa_of(reader, &so);
    }
    let s = &reader.cx().settings;
    get(reader, "hpa", &s.namespace, &s.deployment)
}
