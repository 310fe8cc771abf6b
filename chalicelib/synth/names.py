"""Name tables for synthetic Vietnamese people (frequencies from public surveys, rounded)."""
from __future__ import annotations

# (family name, share in %). Hoàng/Huỳnh and Vũ/Võ are northern/southern forms of one name; the
# shares are split between them. "Others" share the remainder evenly.
FAMILY_NAMES: tuple[tuple[str, float], ...] = (
    ("Nguyễn", 38.0), ("Trần", 11.0), ("Lê", 9.5), ("Phạm", 7.0), ("Hoàng", 2.6), ("Huỳnh", 2.4),
    ("Phan", 4.5), ("Vũ", 2.0), ("Võ", 1.9), ("Đặng", 2.1), ("Bùi", 2.0), ("Đỗ", 1.4), ("Hồ", 1.3),
    ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5),
)
OTHER_FAMILY_NAMES = (
    "Đào", "Đoàn", "Vương", "Trịnh", "Trương", "Lâm", "Mai", "Tô", "Hà", "Cao", "Lưu", "Châu",
    "Đinh", "Tạ", "Thái", "Quách", "Kiều", "Lương", "Mạc", "Triệu", "Văn", "Khổng", "Từ", "Lại",
    "Chu", "Tăng", "Lục", "Giang", "Ông", "La",
)

MALE_MIDDLE = ("Đức", "Hữu", "Minh", "Quốc", "Thanh", "Công", "Quang", "Ngọc", "Xuân", "Đình",
               "Trọng", "Tuấn", "Gia", "Anh", "Hoàng", "Nhật", "Bảo", "Duy", "Trung", "Thế",
               "Mạnh", "Khắc", "Tiến", "Hải", "Phúc")
FEMALE_MIDDLE = ("Ngọc", "Thu", "Thanh", "Minh", "Phương", "Thùy", "Kim", "Bảo", "Khánh", "Mai",
                 "Hồng", "Hải", "Lan", "Diệu", "Quỳnh", "Hoài", "Bích", "Như", "Gia", "Thúy",
                 "Mỹ", "Tuyết", "Hoàng", "Yến", "Cẩm")

MALE_GIVEN = (
    "An", "Anh", "Bảo", "Bình", "Cường", "Chiến", "Công", "Cương", "Đạt", "Đức", "Dũng", "Dương",
    "Duy", "Giang", "Hải", "Hào", "Hậu", "Hiển", "Hiếu", "Hòa", "Hoàng", "Hùng", "Hưng", "Huy",
    "Khang", "Khánh", "Khoa", "Khôi", "Kiên", "Lâm", "Linh", "Lộc", "Long", "Luân", "Mạnh",
    "Minh", "Nam", "Nghĩa", "Nhân", "Nhật", "Phát", "Phong", "Phú", "Phúc", "Phước", "Quân",
    "Quang", "Quý", "Sơn", "Tài", "Tâm", "Tân", "Thắng", "Thành", "Thiện", "Thịnh", "Thông",
    "Tiến", "Toàn", "Trí", "Trọng", "Trung", "Tú", "Tuấn", "Tùng", "Việt", "Vinh", "Vũ",
    "Vương", "Bách", "Cảnh", "Chí", "Chung", "Danh", "Định", "Đông", "Hiệp", "Hoan", "Hội",
    "Khải", "Khiêm", "Lợi", "Lực", "Nguyên", "Nhất", "Ninh", "Phi", "Quyết", "Sang", "Sinh",
    "Tấn", "Thái", "Thạch", "Thanh", "Thuận", "Tín", "Toản", "Trường", "Tuyên", "Vĩnh", "Xuân",
    "Đăng", "Điền", "Đoàn", "Kha", "Lượng", "Mẫn", "Quốc", "Tư", "Tưởng", "Thụy", "Khỏe",
    "Hoạch", "Huân", "Hữu", "Kỳ", "Lạc", "Lãm", "Mạc", "Nghị", "Phụng", "Quảng", "Sáng",
    "Sỹ", "Tạo", "Thạc", "Thuyết", "Trực", "Uy", "Vĩ", "Vỹ", "Đại", "Đoan", "Hòe",
)
FEMALE_GIVEN = (
    "An", "Anh", "Ánh", "Bích", "Châu", "Chi", "Diệp", "Diệu", "Dung", "Duyên", "Giang", "Hà",
    "Hạnh", "Hằng", "Hân", "Hiền", "Hoa", "Hòa", "Hồng", "Huệ", "Hương", "Hường", "Huyền",
    "Khánh", "Khuê", "Lan", "Liên", "Liễu", "Linh", "Loan", "Ly", "Mai", "My", "Mỹ", "Nga",
    "Ngân", "Ngọc", "Nguyệt", "Nhi", "Nhung", "Như", "Oanh", "Phương", "Phượng", "Quế",
    "Quyên", "Quỳnh", "Tâm", "Thảo", "Thanh", "Thơ", "Thu", "Thúy", "Thủy", "Thùy", "Thư",
    "Thương", "Trâm", "Trang", "Trinh", "Tuyết", "Uyên", "Vân", "Vi", "Vy", "Xuân", "Yến",
    "Hoài", "Hậu", "Kiều", "Lệ", "Mơ", "Na", "Nương", "Sương", "Tiên", "Trà", "Xoan", "Thoa",
    "Khuyên", "Đào", "Điệp", "Gấm", "Hảo", "Lụa", "Mận", "Nhàn", "Nhị", "Sen", "Tươi", "Út",
    "Ngà", "Hoàn", "Hòe", "Thoan", "Thuận", "Lài", "Huê", "Nhài", "Ngát", "Thắm", "Thêu",
    "Thủy Tiên", "Lành", "Lựu", "Mến", "Nụ", "Quyến", "Tình", "Tuệ", "Vui", "Xuyến", "Đoan",
    "Hồng Nhung", "Kim Chi", "Bảo Anh", "Khánh Linh", "Minh Thư", "Thanh Hương",
)
