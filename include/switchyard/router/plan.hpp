#pragma once
// Rules that adjust a plan while it runs (the plan itself comes from router::rank).

#include "switchyard/config/config.hpp"

namespace switchyard::router {

/// After a context_length_exceeded answer from deployment `failed`: may `candidate`
/// still be tried? Only a deployment with a known, larger context window may.
bool fits_after_context_error(const config::Deployment& failed,
                              const config::Deployment& candidate);

}  // namespace switchyard::router
