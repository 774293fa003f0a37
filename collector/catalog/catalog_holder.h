// The catalog in force, swapped atomically on reload. A reload that fails
// validation keeps the last good catalog (and says why). Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "collector/catalog/catalog.h"
#include "collector/catalog/rate_card.h"

namespace plumbline::collector {

class CatalogHolder {
 public:
  // The catalog in force; an empty catalog when none is configured.
  std::shared_ptr<const Catalog> Get() const {
    std::lock_guard lock(mu_);
    return catalog_;
  }
  void Set(Catalog catalog) {
    auto fresh = std::make_shared<const Catalog>(std::move(catalog));
    std::lock_guard lock(mu_);
    catalog_ = std::move(fresh);
  }
  // Loads `file`; on success it is in force, on error the old one stays.
  absl::Status Reload(const std::string& file) {
    absl::StatusOr<Catalog> loaded = LoadCatalog(file);
    if (!loaded.ok()) return loaded.status();
    Set(std::move(*loaded));
    return absl::OkStatus();
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Catalog> catalog_ = [] {
    Catalog none;
    none.rate_card = std::make_shared<const RateCard>();  // never null, as a loaded one
    return std::make_shared<const Catalog>(std::move(none));
  }();
};

}  // namespace plumbline::collector
