#include "switchyard/router/plan.hpp"

namespace switchyard::router {

bool fits_after_context_error(const config::Deployment& failed,
                              const config::Deployment& candidate) {
  if (candidate.context_window <= 0) return false;  // unknown: would likely fail the same way
  return failed.context_window <= 0 || candidate.context_window > failed.context_window;
}

}  // namespace switchyard::router
