#include "switchyard/router/plan.hpp"

namespace switchyard::router {

Plan make_plan(const config::Model& model) {
  Plan plan;
  plan.deployments.reserve(model.deployments.size());
  for (std::size_t i = 0; i < model.deployments.size(); ++i) plan.deployments.push_back(i);
  return plan;
}

bool fits_after_context_error(const config::Deployment& failed,
                              const config::Deployment& candidate) {
  if (candidate.context_window <= 0) return false;  // unknown: would likely fail the same way
  return failed.context_window <= 0 || candidate.context_window > failed.context_window;
}

}  // namespace switchyard::router
