#pragma once
// This host's addresses as the kernel routes them: which local address reaches another host, and
// which interface holds it. Data-parallel training uses them to pick Gloo's interface.

#include <optional>
#include <string>

namespace sae {

/// The local address (numeric, IPv4 or IPv6) this host sends from toward `host`, a name or an
/// address, as the kernel routes a UDP socket connected to it; nothing is sent. nullopt when
/// `host` does not resolve or no route reaches it.
std::optional<std::string> source_address_toward(const std::string& host);

/// True for 127.0.0.0/8 and ::1 (and an IPv4-mapped 127.x): addresses no other host can reach.
bool is_loopback_address(const std::string& address);

/// The name of the network interface that holds `address` ("eth0"); nullopt when none does.
std::optional<std::string> interface_holding(const std::string& address);

}  // namespace sae
