//! Every string the desk shows, in Simplified Chinese (the officers' first language, the
//! default) and English. One table per language, declared side by side so that neither can
//! miss a string: a page takes `&Strings` and never spells out text of its own.

use gatewatch_core::incident::AlertState;
use gatewatch_core::registry::ListKind;
use gatewatch_core::rules::{AlertKind, Severity};

/// The desk's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// `zh` or `en`; anything else is Chinese.
    pub fn from_code(code: &str) -> Self {
        if code == "en" { Lang::En } else { Lang::Zh }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The `lang` attribute of a page.
    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-Hans",
            Lang::En => "en",
        }
    }

    /// The other language (the switch in the page header).
    pub fn other(self) -> Self {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }

    /// From a browser's `Accept-Language` (before anyone has logged in): English only if it
    /// comes before any Chinese.
    pub fn from_accept_language(header: &str) -> Self {
        for part in header.split(',') {
            let tag = part.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Lang::Zh;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::Zh
    }
}

macro_rules! strings {
    ($($key:ident: $zh:literal, $en:literal;)*) => {
        /// The desk's strings in one language.
        pub struct Strings {
            $(pub $key: &'static str,)*
        }
        pub static ZH: Strings = Strings { $($key: $zh,)* };
        pub static EN: Strings = Strings { $($key: $en,)* };
    };
}

strings! {
    app_name: "门卫哨 · 值班台", "gatewatch · watch desk";
    lang_name: "中文", "English";
    nav_live: "实时警报", "Live alerts";
    nav_history: "警报历史", "History";
    nav_vehicles: "车辆查询", "Vehicle look-up";
    nav_lists: "名单", "Lists";
    nav_gates: "门岗与摄像头", "Gates and cameras";
    nav_users: "用户", "Users";
    nav_audit: "审计日志", "Audit log";
    logout: "退出", "Log out";
    signed_in_as: "当前用户", "Signed in as";
    login_title: "值班台登录", "Log in to the watch desk";
    user_name: "用户名", "User name";
    password: "密码", "Password";
    login_button: "登录", "Log in";
    login_failed: "用户名或密码错误。", "Wrong user name or password.";
    login_locked: "尝试次数过多，请稍后再试。", "Too many attempts: try again later.";
    live_hint: "新的和更新的警报会自动出现，无需刷新。", "New and updated alerts appear here by themselves.";
    no_alerts: "暂无未关闭的警报。", "No open alerts.";
    new_alert: "新警报", "New alert";
    severity: "级别", "Severity";
    rule: "规则", "Rule";
    place: "小区 / 门岗 / 摄像头", "Compound / gate / camera";
    time: "时间", "Time";
    state: "状态", "State";
    plate: "车牌", "Plate";
    matched: "名单匹配", "List match";
    distance: "差异", "Distance";
    candidates: "其他读数", "Other reads";
    sightings: "出现次数", "Sightings";
    last_seen: "最近出现", "Last seen";
    message: "说明", "Message";
    snapshot: "抓拍", "Snapshot";
    no_picture: "暂无图片", "no picture yet";
    no_picture_yet: "暂无图片：人员的图片在其离开画面时生成。", "No picture yet: a person's picture comes when their track ends.";
    plate_picture: "车牌图", "Plate";
    vehicle_picture: "车辆图", "Vehicle";
    open_alert: "查看", "Open";
    alert_title: "警报详情", "Alert";
    zone: "区域", "Zone";
    track: "轨迹", "Track";
    act_acknowledge: "确认（处理中）", "Acknowledge";
    act_resolve: "已解决", "Resolve";
    act_false_alarm: "误报", "False alarm";
    note: "备注", "Note";
    alert_history: "处理记录", "History";
    by_rules: "系统规则", "the rules";
    action_raised: "发出", "raised";
    action_ended: "规则结束", "ended by its rule";
    sightings_list: "各次出现", "Sightings";
    refused: "操作被拒绝：", "Refused: ";
    done: "已记录。", "Done.";
    state_open: "未处理", "Open";
    state_acknowledged: "处理中", "Acknowledged";
    state_resolved: "已解决", "Resolved";
    state_false_alarm: "误报", "False alarm";
    severity_high: "高", "High";
    severity_medium: "中", "Medium";
    severity_low: "低", "Low";
    kind_loitering: "徘徊", "Loitering";
    kind_watchlist: "名单车辆", "Listed vehicle";
    kind_unknown_vehicle: "陌生车辆", "Unknown vehicle";
    kind_camera_offline: "摄像头离线", "Camera offline";
    kind_stationary: "违停", "Parked too long";
    kind_tampering: "摄像头遮挡", "Camera covered";
    kind_overstay: "超时停留", "Overstay";
    kind_exit_without_entry: "无入场记录出场", "Exit without entry";
    kind_unknown_inside: "陌生车辆在内", "Unknown vehicle inside";
    filter: "筛选", "Filter";
    all: "全部", "All";
    from: "从", "From";
    to: "至", "To";
    site: "小区", "Compound";
    gate: "门岗", "Gate";
    camera: "摄像头", "Camera";
    next_page: "下一页", "Next page";
    nothing_found: "没有找到。", "Nothing found.";
    lookup_hint: "输入车牌；易混字符（0/O/D、8/B、1/I……）也会匹配，与规则的匹配相同。", "Type a plate: OCR look-alikes (0/O/D, 8/B, 1/I, ...) match too, as in the rules.";
    lookup_button: "查询", "Look up";
    lookup_seen: "出现记录", "Sightings";
    lookup_on_lists: "所在名单", "On lists";
    lookup_visits: "出入记录", "Visits";
    lookup_days: "查询范围（天）", "Days searched";
    read_as: "识别为", "Read as";
    entered: "进入", "Entered";
    left: "离开", "Left";
    visit_state: "状态", "State";
    list: "名单", "List";
    label: "说明", "Label";
    valid_from: "生效时间", "Valid from";
    valid_to: "失效时间", "Valid to";
    always: "长期", "always";
    add: "添加或修改", "Add or change";
    remove: "删除", "Remove";
    import_csv: "导入 CSV（有错误行则全部不导入）", "Import CSV (nothing is imported if a row is bad)";
    import_button: "导入", "Import";
    export_csv: "导出 CSV", "Export CSV";
    imported: "已导入条目：", "Entries imported: ";
    list_wanted: "通缉", "Wanted";
    list_stolen: "被盗", "Stolen";
    list_banned: "禁入", "Banned";
    list_resident: "住户", "Resident";
    list_visitor: "访客", "Visitor";
    online: "在线", "Online";
    offline: "离线", "Offline";
    unknown: "未知", "Unknown";
    last_event: "最近事件", "Last event";
    fps: "帧/秒", "Frames/s";
    dropped: "丢帧", "Dropped";
    view_covered: "画面被遮挡", "View covered";
    view_ok: "正常", "Clear";
    view: "画面", "View";
    counts_day: "24 小时进出", "In/out, 24 h";
    thumbnail: "最新画面", "Latest view";
    no_cameras: "最近没有摄像头上报。", "No camera has reported lately.";
    role: "角色", "Role";
    role_officer: "值班员", "Officer";
    role_admin: "管理员", "Admin";
    disabled: "已停用", "Disabled";
    active: "启用中", "Active";
    disable: "停用", "Disable";
    enable: "启用", "Enable";
    reset_password: "重置密码", "Reset password";
    set_role: "设为", "Make";
    add_user: "添加用户", "Add user";
    one_time_password: "一次性密码（只显示这一次，请当面交给用户）：", "One-time password (shown only now; hand it over in person): ";
    created: "创建时间", "Created";
    audit_user: "用户", "User";
    audit_action: "操作", "Action";
    audit_subject: "对象", "Subject";
    audit_detail: "详情", "Detail";
    audit_source: "来源", "Source";
    forbidden: "您无权打开此页。", "You may not open this page.";
    not_found: "没有这一项。", "There is no such item.";
    bad_request: "请求无效：", "Bad request: ";
    csrf_refused: "表单已失效，请返回重新提交。", "This form has expired: go back and submit it again.";
    error: "出错了，请稍后再试。", "Something went wrong: try again shortly.";
    back: "返回", "Back";
    switch_language: "English", "中文";
    sum_loitering: "{zone} 区域有人徘徊（轨迹 {track}）", "Someone loitering in {zone} (track {track})";
    sum_watchlist: "{list}名单车辆 {plate}", "Vehicle {plate} on the {list} list";
    sum_unknown_vehicle: "陌生车辆 {plate}（不在住户或访客名单上）", "Unknown vehicle {plate} (on no resident or visitor list)";
    sum_camera_offline: "摄像头 {camera} 离线", "Camera {camera} offline";
    sum_stationary: "车辆在 {zone} 区域停放过久（轨迹 {track}）", "Vehicle parked too long in {zone} (track {track})";
    sum_tampering: "摄像头 {camera} 画面被遮挡、模糊或移动", "Camera {camera} covered, blurred or turned away";
    sum_overstay: "访客车辆 {plate} 超时未离开", "Visitor vehicle {plate} still inside after its pass";
    sum_exit_without_entry: "车辆 {plate} 出场，但没有入场记录", "Vehicle {plate} left without an entry seen";
    sum_unknown_inside: "陌生车辆 {plate} 在小区内停留过久", "Unknown vehicle {plate} inside too long";
    change_password: "修改密码", "Change password";
    api_tokens: "接口令牌（供其他系统调用 JSON 接口）", "API tokens (for other systems using the JSON API)";
    add_token: "新建令牌", "New token";
    api_token_once: "接口令牌（只显示这一次）：", "API token (shown only now): ";
    last_used: "最近使用", "Last used";
    revoked: "已吊销", "Revoked";
    revoke: "吊销", "Revoke";
    current_password: "当前密码", "Current password";
    new_password: "新密码（至少 12 个字符）", "New password (at least 12 characters)";
    new_password_again: "再次输入新密码", "New password again";
    passwords_differ: "两次输入的新密码不一致。", "The two new passwords differ.";
    password_rules: "密码须为 12 到 256 个字符。", "A password must be 12 to 256 characters.";
}

impl Strings {
    pub fn state(&self, s: AlertState) -> &'static str {
        match s {
            AlertState::Open => self.state_open,
            AlertState::Acknowledged => self.state_acknowledged,
            AlertState::Resolved => self.state_resolved,
            AlertState::FalseAlarm => self.state_false_alarm,
        }
    }

    pub fn severity_name(&self, s: Severity) -> &'static str {
        match s {
            Severity::High => self.severity_high,
            Severity::Medium => self.severity_medium,
            Severity::Low => self.severity_low,
        }
    }

    pub fn kind(&self, k: AlertKind) -> &'static str {
        match k {
            AlertKind::Loitering => self.kind_loitering,
            AlertKind::Watchlist => self.kind_watchlist,
            AlertKind::UnknownVehicle => self.kind_unknown_vehicle,
            AlertKind::CameraOffline => self.kind_camera_offline,
            AlertKind::Stationary => self.kind_stationary,
            AlertKind::Tampering => self.kind_tampering,
            AlertKind::Overstay => self.kind_overstay,
            AlertKind::ExitWithoutEntry => self.kind_exit_without_entry,
            AlertKind::UnknownInside => self.kind_unknown_inside,
        }
    }

    pub fn list_kind(&self, k: ListKind) -> &'static str {
        match k {
            ListKind::Wanted => self.list_wanted,
            ListKind::Stolen => self.list_stolen,
            ListKind::Banned => self.list_banned,
            ListKind::Resident => self.list_resident,
            ListKind::Visitor => self.list_visitor,
        }
    }

    /// An alert in one line, in this language, from its fields (the rules' `message` is English).
    pub fn summary(&self, a: &gatewatch_core::rules::Alert) -> String {
        let template = match a.kind {
            AlertKind::Loitering => self.sum_loitering,
            AlertKind::Watchlist => self.sum_watchlist,
            AlertKind::UnknownVehicle => self.sum_unknown_vehicle,
            AlertKind::CameraOffline => self.sum_camera_offline,
            AlertKind::Stationary => self.sum_stationary,
            AlertKind::Tampering => self.sum_tampering,
            AlertKind::Overstay => self.sum_overstay,
            AlertKind::ExitWithoutEntry => self.sum_exit_without_entry,
            AlertKind::UnknownInside => self.sum_unknown_inside,
        };
        let list = a.matched.as_ref().map(|m| self.list_kind(m.kind)).unwrap_or(self.unknown);
        template
            .replace("{zone}", a.zone.as_deref().unwrap_or("?"))
            .replace("{track}", &a.track.map(|t| t.to_string()).unwrap_or_else(|| "?".into()))
            .replace("{plate}", a.plate.as_deref().unwrap_or("?"))
            .replace("{list}", list)
            .replace("{camera}", &format!("{}/{}", a.edge, a.camera))
    }

    /// A history entry's action (`raised`, `acknowledged`, ..., `ended`).
    pub fn history_action(&self, action: &str) -> &'static str {
        match action {
            "raised" => self.action_raised,
            "ended" => self.action_ended,
            other => other.parse::<AlertState>().map(|s| self.state(s)).unwrap_or(self.unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_the_default_and_english_is_chosen_only_when_preferred() {
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Lang::En);
        assert_eq!(Lang::from_accept_language("de-DE, en;q=0.5"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::Zh);
        assert_eq!(Lang::from_code("fr"), Lang::Zh);
        assert_eq!(Lang::En.strings().nav_live, "Live alerts");
        assert_eq!(Lang::Zh.strings().nav_live, "实时警报");
    }

    #[test]
    fn an_alert_is_summed_up_in_the_readers_language() {
        let a = gatewatch_core::rules::Alert {
            alert_id: uuid::Uuid::nil(),
            key: "k".into(),
            rule: "shed".into(),
            kind: AlertKind::Loitering,
            site: "north".into(),
            edge: "gate-1".into(),
            camera: "cam1".into(),
            track: Some(7),
            zone: Some("bike-shed".into()),
            plate: None,
            matched: None,
            candidates: vec![],
            at: chrono::Utc::now(),
            event_id: uuid::Uuid::nil(),
            message: "track 7 has been in zone 'bike-shed' for 60 s".into(),
        };
        assert_eq!(ZH.summary(&a), "bike-shed 区域有人徘徊（轨迹 7）");
        assert_eq!(EN.summary(&a), "Someone loitering in bike-shed (track 7)");
        let stolen = gatewatch_core::rules::Alert {
            kind: AlertKind::Watchlist,
            plate: Some("京A12345".into()),
            matched: Some(gatewatch_core::registry::PlateMatch {
                kind: ListKind::Stolen,
                entry_plate: "京A12345".into(),
                label: "case 7".into(),
                read: "京A12345".into(),
                distance: 0.0,
            }),
            ..a
        };
        assert_eq!(ZH.summary(&stolen), "被盗名单车辆 京A12345");
        assert_eq!(EN.summary(&stolen), "Vehicle 京A12345 on the Stolen list");
    }

    #[test]
    fn every_chinese_string_is_translated() {
        // A Chinese string left in English (or empty) would show officers the wrong language.
        let (zh, en) = (&ZH, &EN);
        let pairs = [
            (zh.nav_live, en.nav_live),
            (zh.act_acknowledge, en.act_acknowledge),
            (zh.state_false_alarm, en.state_false_alarm),
            (zh.lookup_hint, en.lookup_hint),
            (zh.one_time_password, en.one_time_password),
            (zh.sum_loitering, en.sum_loitering),
            (zh.sum_unknown_inside, en.sum_unknown_inside),
        ];
        for (z, e) in pairs {
            assert!(!z.is_empty() && !e.is_empty());
            assert!(z.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{z:?} is not Chinese");
        }
    }
}
