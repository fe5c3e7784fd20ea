// The broker's metrics in Prometheus text format, served at admin_listen /metrics.
//
//   std::string text = renderBrokerMetrics(core);
//
// Thread-safety: reads atomics and the store's size; safe from any thread.
#pragma once

#include <string>

#include "broker/broker_core.h"

namespace gssgate::broker {

std::string renderBrokerMetrics(const BrokerCore& core);

}  // namespace gssgate::broker
