// A collector built with -DPLUMBLINE_DASHBOARD=OFF: no dashboard files.
#include "collector/dashboard_assets.h"

namespace plumbline::collector {

const DashboardAsset* FindDashboardAsset(std::string_view) { return nullptr; }

bool DashboardBuilt() { return false; }

}  // namespace plumbline::collector
