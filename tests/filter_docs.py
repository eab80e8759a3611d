"""Real-looking documents shared by the filter, normalizer and langid tests."""

EN_CLEAN = """The old harbour town of Kessel sits at the mouth of a slow, brown river that drains half of the northern plain. For most of the nineteenth century it was a busy port, and the long stone quay that runs along the water still carries the iron rings where barges were tied.

Today the town is quieter. The warehouses have been turned into flats, a library and a small museum that tells the story of the river trade. Visitors who walk along the quay in the early morning can watch the fishing boats come in with the tide.

The museum is open every day except Monday. It has a room of ship models, a collection of old maps and a workshop where volunteers restore wooden boats with the tools that were used two hundred years ago. Entry is free for children and students.

In summer the town holds a festival with music, food stalls and a race between rowing crews from the villages upstream. The race has been held since 1893, and the winning crew is given a silver oar that hangs in the town hall for the rest of the year."""

EN_SENTENCES = [
    "The committee met on Tuesday to discuss the budget for the coming year.",
    "Several members asked whether the new bridge could be finished before winter.",
    "The engineer explained that the steel had arrived late from the supplier.",
    "A local farmer complained that the road works had blocked his gate for a week.",
    "The chair promised to write to the contractor and ask for a clear timetable.",
    "Parents at the meeting raised the question of safe crossings near the school.",
    "Funding for the library was approved with only one vote against.",
    "The treasurer reported that the reserve fund had grown by four percent.",
    "Volunteers offered to repaint the benches in the park during the spring.",
    "A proposal to extend the bus service to the hospital was sent to the county.",
    "The minutes of the previous meeting were read and accepted without change.",
    "Residents were reminded that the recycling centre will close early on Fridays.",
]

ZH_CLEAN = """江南的春天来得早。三月初，河边的柳树已经抽出了新芽，田里的油菜花也开始泛黄。每到这个时候，村里的老人就会搬出竹椅，坐在门口晒太阳，聊一聊今年的收成和孩子们的近况。

小镇的中心是一座有几百年历史的石桥。桥下的河水不深，清澈见底，常有孩子在岸边捉小鱼。桥的另一头是一条老街，街上有茶馆、裁缝铺和一家卖了三代人的糕点店。店里的桂花糕用的是自家院子里的桂花，甜而不腻，远近闻名。

近几年，镇上修了新的公路，来游玩的人越来越多。有人担心老街会因此失去原来的样子，也有人觉得这是让年轻人留在家乡的好机会。镇政府请来了规划专家，希望在保护老建筑的同时，让居民的生活变得更方便。"""

ZH_SENTENCES = [
    "今年夏天，市图书馆延长了开放时间，晚上九点才闭馆。",
    "不少学生利用暑假来这里复习功课，阅览室几乎天天坐满。",
    "馆长介绍说，新采购的两万册图书已经全部上架。",
    "为了方便老年读者，图书馆还在一楼设置了大字版图书专区。",
    "周末的亲子阅读活动很受欢迎，报名名额常常在一小时内被抢光。",
    "志愿者们轮流给孩子们讲故事，还教他们做简单的手工书签。",
    "有读者建议增加更多的自习座位，馆方表示会认真考虑。",
    "明年图书馆计划开通线上借阅服务，读者在家就能预约图书。",
    "附近的社区也打算建立分馆，让居民借书更加方便。",
    "这项工作得到了市政府的大力支持，相关经费已经落实。",
]

ZH_SPAM = """澳门葡京娱乐城官方网站，真人荷官在线发牌，百家乐、龙虎斗、时时彩应有尽有！
新用户注册送彩金888元，首存优惠高达百分之百，每日返水无上限，让您玩得开心，赢得放心。
客服QQ：12345678，加微信领取免费彩金，二十四小时在线为您服务，提款快速到账。
点击进入，立即注册，体育投注、足球投注一站式服务，网投平台信誉第一，欢迎各位新老会员！"""

MIXED_TECH = """在 Python 中读取 JSON 文件

很多项目都会把配置保存在 JSON 文件里。Python 标准库自带的 json 模块可以直接完成解析，不需要安装第三方依赖。下面的例子演示了如何用 json.load() 读取文件，并用 dict.get() 取出一个可选字段。

    import json

    with open("config.json", encoding="utf-8") as f:
        config = json.load(f)
    timeout = config.get("timeout", 30)

需要注意的是，open() 默认使用系统编码，在 Windows 上可能不是 UTF-8，所以最好显式传入 encoding 参数。如果文件很大，可以考虑使用 ijson 这样的流式解析库，避免一次性把整个文件读进内存。

另外，json.loads() 接收的是字符串而不是文件对象，两者经常被初学者混淆。写入文件时对应的函数是 json.dump()，设置 ensure_ascii=False 可以让中文按原样保存，而不是被转义成 Unicode 转义序列。"""

FR_CLEAN = """Le vieux port de la ville est situé à l'embouchure d'une rivière lente qui traverse la plaine du nord.
Pendant tout le dix-neuvième siècle, c'était un port très actif, et le long quai de pierre porte encore les anneaux de fer où l'on attachait les péniches.
Aujourd'hui, la ville est plus calme et les entrepôts ont été transformés en appartements et en musée."""
