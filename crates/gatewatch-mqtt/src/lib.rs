//! MQTT adapter placeholder
pub mod broker { pub struct Mosquitto; }
