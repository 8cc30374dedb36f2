// switchyard: OpenAI-compatible LLM routing gateway.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "switchyard/app/gateway.hpp"
#include "switchyard/config/config.hpp"
#include "switchyard/router/classifier.hpp"
#include "switchyard/telemetry/access_log.hpp"
#include "switchyard/version.hpp"

namespace {

constexpr const char* kUsage =
    "usage: switchyard [--config FILE] [--check-config FILE] [--log-level LEVEL]\n"
    "                  [--help] [--version]\n"
    "\n"
    "  --config FILE        configuration file (default: $SWITCHYARD_CONFIG)\n"
    "  --check-config FILE  validate FILE and exit: 0 valid, 2 invalid\n"
    "  --log-level LEVEL    trace|debug|info|warn|error|critical|off\n"
    "                       (default: telemetry.log_level, else info)\n"
    "  --help               show this help\n"
    "  --version            print the version\n"
    "\n"
    "Signals: SIGHUP reloads the configuration file; SIGTERM/SIGINT drain and exit.\n"
    "Exit codes: 0 clean shutdown, 1 runtime failure, 2 invalid configuration.\n";

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::string check_path;
  std::string log_level = "info";
  bool log_level_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "switchyard: %s needs a value\n%s", flag, kUsage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--version") {
      std::printf("switchyard %s\n", SWITCHYARD_VERSION);
      return 0;
    } else if (a == "--config" || a == "-c") {
      config_path = value("--config");
    } else if (a == "--check-config") {
      check_path = value("--check-config");
    } else if (a == "--log-level") {
      log_level = value("--log-level");
      log_level_given = true;
    } else {
      std::fprintf(stderr, "switchyard: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  // Operational logs go to stderr; stdout carries the "listening on" line (and, later,
  // the access log).
  spdlog::set_default_logger(spdlog::stderr_color_mt("switchyard"));
  auto level = spdlog::level::from_str(log_level);
  if (level == spdlog::level::off && log_level != "off") {
    std::fprintf(stderr, "switchyard: unknown log level '%s'\n%s", log_level.c_str(), kUsage);
    return 2;
  }
  spdlog::set_level(level);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");

  if (!check_path.empty()) {
    try {
      auto cfg = switchyard::config::load_file(check_path);
      switchyard::router::Classifier check_rules(cfg.routing);  // compiles the task regexes
      std::printf("%s: OK (%zu provider%s, %zu model%s)\n", check_path.c_str(),
                  cfg.providers.size(), cfg.providers.size() == 1 ? "" : "s", cfg.models.size(),
                  cfg.models.size() == 1 ? "" : "s");
      return 0;
    } catch (const switchyard::config::ConfigError& e) {
      std::fprintf(stderr, "%s: %s\n", check_path.c_str(), e.what());
      return 2;
    }
  }

  if (config_path.empty()) {
    if (const char* env = std::getenv("SWITCHYARD_CONFIG"); env && *env) config_path = env;
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "switchyard: no configuration (use --config FILE or SWITCHYARD_CONFIG)\n");
    return 2;
  }

  std::shared_ptr<const switchyard::config::Config> cfg;
  try {
    cfg = std::make_shared<const switchyard::config::Config>(
        switchyard::config::load_file(config_path));
  } catch (const switchyard::config::ConfigError& e) {
    std::fprintf(stderr, "%s: %s\n", config_path.c_str(), e.what());
    return 2;
  }

  // From here on, operational logs are in the configured form (JSON lines by default).
  switchyard::telemetry::setup_operational_log(
      cfg->telemetry.log_json, log_level_given ? log_level : cfg->telemetry.log_level);

  try {
    switchyard::app::Gateway gw(cfg, config_path);
    return gw.run();
  } catch (const switchyard::config::ConfigError& e) {
    std::fprintf(stderr, "%s: %s\n", config_path.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::error("switchyard: {}", e.what());
    return 1;
  }
}
