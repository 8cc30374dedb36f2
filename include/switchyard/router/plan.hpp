#pragma once
// The attempt plan for one request: which deployments to try, in which order.
// This milestone keeps each model's listed order for every strategy; the scoring
// router replaces make_plan without changing its callers.

#include <cstddef>
#include <vector>

#include "switchyard/config/config.hpp"

namespace switchyard::router {

struct Plan {
  std::vector<std::size_t> deployments;  ///< indices into Model::deployments, in try order
};

Plan make_plan(const config::Model& model);

/// After a context_length_exceeded answer from deployment `failed`: may `candidate`
/// still be tried? Only a deployment with a known, larger context window may.
bool fits_after_context_error(const config::Deployment& failed,
                              const config::Deployment& candidate);

}  // namespace switchyard::router
