//! The network address from the boot arguments: `ip=10.0.2.15/24,gw=10.0.2.2` (gateway
//! optional), or `ip=dhcp` / no `ip=` for DHCP.
//!
//! Pure `core` (the host tests in `hal/tests/serve_http.rs` include this file).

/// How the interface gets its IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpConfig {
    /// Ask a DHCP server (QEMU's user networking answers with 10.0.2.15/24, gateway 10.0.2.2).
    Dhcp,
    Static {
        addr: [u8; 4],
        prefix_len: u8,
        gateway: Option<[u8; 4]>,
    },
}

/// Parses the value of the `ip=` boot argument (`None`: no such argument → DHCP).
pub fn parse(value: Option<&str>) -> Result<IpConfig, &'static str> {
    let Some(value) = value else {
        return Ok(IpConfig::Dhcp);
    };
    if value == "dhcp" {
        return Ok(IpConfig::Dhcp);
    }
    let mut parts = value.split(',');
    let cidr = parts.next().unwrap_or("");
    let (addr, prefix) = cidr
        .split_once('/')
        .ok_or("ip=: want ADDR/PREFIX, e.g. ip=10.0.2.15/24,gw=10.0.2.2")?;
    let addr = ipv4(addr).ok_or("ip=: the address is not a dotted IPv4 address")?;
    let prefix_len = prefix
        .parse::<u8>()
        .ok()
        .filter(|&p| (1..=32).contains(&p))
        .ok_or("ip=: the prefix length must be 1..32")?;
    let mut gateway = None;
    for part in parts {
        let gw = part
            .strip_prefix("gw=")
            .ok_or("ip=: after the address only gw=ADDR may follow")?;
        gateway = Some(ipv4(gw).ok_or("ip=: gw= is not a dotted IPv4 address")?);
    }
    Ok(IpConfig::Static {
        addr,
        prefix_len,
        gateway,
    })
}

/// `a.b.c.d`, each 0..=255 in decimal.
pub fn ipv4(s: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split('.');
    for o in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse(None), Ok(IpConfig::Dhcp));
        assert_eq!(parse(Some("dhcp")), Ok(IpConfig::Dhcp));
        assert_eq!(
            parse(Some("10.0.2.15/24,gw=10.0.2.2")),
            Ok(IpConfig::Static {
                addr: [10, 0, 2, 15],
                prefix_len: 24,
                gateway: Some([10, 0, 2, 2])
            })
        );
        assert_eq!(
            parse(Some("192.168.1.9/16")),
            Ok(IpConfig::Static {
                addr: [192, 168, 1, 9],
                prefix_len: 16,
                gateway: None
            })
        );
    }

    #[test]
    fn refused() {
        for bad in [
            "",
            "10.0.2.15",
            "10.0.2/24",
            "10.0.2.256/24",
            "10.0.2.15/33",
            "10.0.2.15/0",
            "10.0.2.15/24,gw=1.2.3",
            "10.0.2.15/24,mask=1",
            "1.2.3.4.5/8",
            "+1.2.3.4/8",
        ] {
            assert!(parse(Some(bad)).is_err(), "{bad:?} accepted");
        }
    }
}
